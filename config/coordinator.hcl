# medic coordinator: the HTTPS + mTLS front door. Callers are identified by the SPIFFE ID
# (URI SAN) of their client certificate; route rules admit them. Deny by default.
server_config {
  listen         = "127.0.0.1:8443"
  enable_tls     = true
  cert_file      = "../.medic/tls/server.pem"   # relative to this file; `medic dev` makes these
  key_file       = "../.medic/tls/server-key.pem"
  client_ca_file = "../.medic/tls/ca.pem"

  route_rule {
    name           = "global_get"
    method         = "GET"
    route_patterns = ["/v1/*"]
    uris           = ["spiffe://medic.dev/sre-admin", "spiffe://medic.dev/cli/*"]
  }

  route_rule {
    name           = "triggers"
    method         = "POST"
    route_patterns = ["/v1/workflows/*/executions", "/v1/alertmanager"]
    uris           = ["spiffe://medic.dev/sre-admin", "spiffe://medic.dev/cli/*", "spiffe://medic.dev/trigger/*", "spiffe://medic.dev/alertmanager"]
  }

  route_rule {
    name           = "public_access"
    method         = "GET"
    route_patterns = ["/metrics", "/healthz", "/readyz", "/openapi.json"]
    uris           = []
    allow_public   = true
    skip_log_match = true
  }
}

# Constraint checks: slot leases decide; visibility counts are a second opinion, at most this
# many queries a second per coordinator (0: none).
admission {
  visibility_qps = 2
}

temporal {
  address   = "127.0.0.1:7233"
  namespace = "default"
}
