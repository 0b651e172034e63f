# medic worker: one per server. It polls three task queues:
#   medic:<datacenter>               any worker in the datacenter
#   medic:<datacenter>:<node_type>   workers of this node type
#   medic:node:<node>                this server only
worker {
  datacenter     = "dev1"
  node_type      = "generic"
  # node         = "host1"            # defaults to the host name
  shutdown_grace = "30s"              # SIGTERM waits this long for running activities
  metrics_listen = "127.0.0.1:9464"
}

temporal {
  address   = "127.0.0.1:7233"
  namespace = "default"
}
