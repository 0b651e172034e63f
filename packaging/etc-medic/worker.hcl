# /etc/medic/worker.hcl (medic package example; a conffile: your edits survive upgrades).
# Used by medic-worker.service on every server medic may heal. Set this host's datacenter and
# node type, what the activities may touch, then: systemctl enable --now medic-worker
worker {
  datacenter     = "dc1"
  node_type      = "generic"
  # node defaults to the host name
  shutdown_grace = "30s"
  metrics_listen = "127.0.0.1:9464"
  allowed_commands = ["/usr/bin/chronyc"]
  cleanup_paths    = []                  # where cleanDisk may delete, e.g. ["/var/log/myapp"]
  reboot_dry_run   = true                # set false once you trust rebootNode on this fleet
}

temporal {
  address   = "temporal.example.com:7233"
  namespace = "default"
}
