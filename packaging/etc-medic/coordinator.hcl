# /etc/medic/coordinator.hcl (medic package example; a conffile: your edits survive upgrades).
# Used by medic-coordinator.service. Put the server certificate, its key and the CA that signs
# client certificates in /etc/medic/tls/ (readable by the medic group), set the SPIFFE IDs of
# your callers, then: systemctl enable --now medic-coordinator
server_config {
  listen         = "0.0.0.0:8443"
  enable_tls     = true
  cert_file      = "/etc/medic/tls/server.pem"
  key_file       = "/etc/medic/tls/server-key.pem"
  client_ca_file = "/etc/medic/tls/ca.pem"

  route_rule {
    name           = "operators"
    method         = "*"
    route_patterns = ["/v1/*"]
    uris           = ["spiffe://example.com/sre-admin"]
  }

  route_rule {
    name           = "triggers"
    method         = "POST"
    route_patterns = ["/v1/workflows/*/executions", "/v1/alertmanager"]
    uris           = ["spiffe://example.com/trigger/*", "spiffe://example.com/alertmanager"]
  }

  route_rule {
    name           = "probes"
    method         = "GET"
    route_patterns = ["/metrics", "/healthz", "/readyz"]
    uris           = []
    allow_public   = true
    skip_log_match = true
  }
}

temporal {
  address   = "temporal.example.com:7233"
  namespace = "default"
}
