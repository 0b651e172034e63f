# medic trigger: polls Prometheus and asks the coordinator to start workflows.
prometheus {
  address       = "http://127.0.0.1:9090"
  poll_interval = "30s"
  query_timeout = "10s"
}

coordinator {
  address   = "https://127.0.0.1:8443"
  cert_file = "../../.medic/tls/trigger.pem"
  key_file  = "../../.medic/tls/trigger-key.pem"
  ca_file   = "../../.medic/tls/ca.pem"
}

# Works on node_exporter's own labels: `instance` is "host:9100", and node_from strips the port.
# cleanDisk runs on the node's own queue, so the node is all the target needs.
rule "disk_almost_full" {
  query           = "node_filesystem_avail_bytes{mountpoint=\"/\",fstype!=\"tmpfs\"} / node_filesystem_size_bytes{mountpoint=\"/\",fstype!=\"tmpfs\"} < 0.05"
  for             = "5m"
  keep_firing_for = "5m"
  workflow        = "cleanDisk"
  reason          = "root filesystem has less than 5% free ({{ $value }})"

  target {
    node_from = "instance"
  }

  params = {
    mountpoint = "/"
  }
}
