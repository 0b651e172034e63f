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
    route_patterns = ["/v1/workflows/*/executions"]
    uris           = ["spiffe://medic.dev/sre-admin", "spiffe://medic.dev/cli/*", "spiffe://medic.dev/trigger/*"]
  }

  # Alertmanager may post alerts, and start cleanDisk and restartService only: the webhook's
  # alerts are also checked against the trigger path of the workflow they lead to.
  route_rule {
    name           = "alertmanager"
    method         = "POST"
    route_patterns = ["/v1/alertmanager", "/v1/workflows/cleanDisk/executions", "/v1/workflows/restartService/executions"]
    uris           = ["spiffe://medic.dev/alertmanager"]
  }

  # Who may pause and resume remediation (medic pause / medic resume): see "Fleet safety" in the README.
  route_rule {
    name           = "pauses"
    method         = "*"
    route_patterns = ["/v1/pauses"]
    uris           = ["spiffe://medic.dev/sre-admin"]
  }

  # Slack has no client certificate: the chat route is public and protected by the request
  # signature (chat { } below). Without a chat block it answers 404.
  route_rule {
    name           = "chat"
    method         = "POST"
    route_patterns = ["/v1/chat/slack"]
    uris           = []
    allow_public   = true
  }

  # The web console (/ui/, docs/console.md): sign-in pages and the page's script and style are
  # public; the page and its views need this rule; its actions (pause, resume, approve) are the
  # /v1 routes themselves, under their own rules.
  route_rule {
    name           = "console_sign_in"
    method         = "GET"
    route_patterns = ["/ui/auth/*", "/ui/assets/*"]
    uris           = []
    allow_public   = true
  }

  route_rule {
    name           = "console_sign_out"
    method         = "POST"
    route_patterns = ["/ui/auth/logout"]
    uris           = []
    allow_public   = true
  }

  route_rule {
    name           = "console"
    method         = "GET"
    route_patterns = ["/ui/", "/ui/api/*"]
    uris           = ["spiffe://medic.dev/sre-admin", "spiffe://medic.dev/cli/*"]
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
  # How often admission is compared with what visibility shows (the drift metric); "0s": never.
  reconcile_interval = "60s"
}

# Alertmanager webhook (POST /v1/alertmanager): which alerts run which workflow. Alert labels
# never choose the workflow: the first route whose alertname and matchers (exact label values)
# match decides, and an alert no route matches starts nothing. Labels fill the target; a route
# maps labels or annotations to the workflow's *settable* params only.
alertmanager {
  node_labels       = ["node", "instance"]  # first present wins; instance loses its :port
  datacenter_label  = "datacenter"
  node_type_label   = "node_type"
  reason_annotation = "summary"

  route {
    alertname = "DiskAlmostFull"
    workflow  = "cleanDisk"
    params    = { mountpoint = "labels.mountpoint" }
  }

  route {
    alertname = "ServiceDown"
    matchers  = { severity = "page" }
    workflow  = "restartService"
    params    = { unit = "labels.unit" }
  }
}

# Slack slash command (POST /v1/chat/slack): off unless this block is present. Deny by default:
# a user runs only the workflows an allow rule names; `status` and `list` need any rule.
# chat {
#   slack_signing_secret_file = "/etc/medic/slack-signing-secret"   # never in this file, never logged
#   slack_team_id             = "T0123ABCD"                          # the one workspace accepted
#   slack_enterprise_id       = "E0123ABCD"                          # Enterprise Grid only
#   max_request_age           = "5m"                                 # older signed requests are refused
#   allow {
#     user      = "U024BE7LH"                                        # Slack user id
#     workflows = ["cleanDisk", "restartService"]
#   }
# }

temporal {
  address   = "127.0.0.1:7233"
  namespace = "default"
}
