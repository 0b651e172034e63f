# /etc/medic/triggers/disk.hcl (medic package example; a conffile).
# Used by medic-trigger.service: when a root file system stays almost full for 5 minutes, ask the
# coordinator to run cleanDisk on that node. The client certificate carries the trigger's SPIFFE ID.
prometheus {
  address       = "http://127.0.0.1:9090"
  poll_interval = "30s"
}

coordinator {
  address   = "https://coordinator.example.com:8443"
  cert_file = "/etc/medic/tls/trigger.pem"
  key_file  = "/etc/medic/tls/trigger-key.pem"
  ca_file   = "/etc/medic/tls/ca.pem"
}

rule "disk_almost_full" {
  query           = "node_filesystem_avail_bytes{mountpoint=\"/\",fstype!=\"tmpfs\"} / node_filesystem_size_bytes{mountpoint=\"/\",fstype!=\"tmpfs\"} < 0.05"
  for             = "5m"
  keep_firing_for = "5m"
  workflow        = "cleanDisk"
  target {
    # node_exporter's `instance` is "host:9100": node_from takes the node and strips the port.
    node_from = "instance"
  }
  params = { mountpoint = "/" }
}
