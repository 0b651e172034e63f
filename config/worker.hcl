# medic worker. Its role says what it polls:
#   node     medic:<datacenter>:<node_type> and medic:node:<node>: activities on this server (every server)
#   general  medic:<datacenter>: the workflows of the datacenter and the escalation sink (a few hosts)
#   both     all three (this file: medic dev, one machine)
# What activities may do on this machine is denied by default: only the commands, paths and
# hooks listed here. SIGHUP reloads this file.
worker {
  datacenter     = "dev1"
  node_type      = "generic"
  # node         = "host1"            # defaults to the host name
  role           = "both"
  shutdown_grace = "30s"              # SIGTERM waits this long for running activities
  metrics_listen = "127.0.0.1:9464"   # Prometheus /metrics of this worker

  max_concurrent_activities = 4       # per task queue

  # Executables the command activity (and runbook command steps) may run, by absolute path.
  # /usr/bin/unlink removes one file: the healDemo runbook clears the demo service's stale lock.
  # df, du, ls and uptime only look: the shipped workflows' diagnose steps run them on escalation.
  allowed_commands = [
    "/usr/bin/chronyc", "/usr/bin/journalctl", "/usr/bin/true", "/usr/bin/unlink",
    "/usr/bin/df", "/usr/bin/du", "/usr/bin/ls", "/usr/bin/uptime",
  ]
  command_timeout  = "5m"
  max_output_bytes = 65536

  systemctl = "/usr/bin/systemctl"

  # Directories cleanDisk may remove old files from (symlinks are never followed out of them).
  cleanup_paths = ["/var/log/medic-demo", "/var/tmp/medic-demo"]

  # true: the reboot activity logs what it would run and reboots nothing (medic dev, tests).
  reboot_dry_run = true
  reboot_command = ["/usr/bin/systemd-run", "--on-active=10", "--unit=medic-reboot", "/usr/bin/systemctl", "reboot"]
}

# Where health checks and cleanDisk verify conditions.
prometheus {
  address = "http://127.0.0.1:9090"
  timeout = "10s"
}

# Hooks: a command (argv; the event comes in MEDIC_EVENT, MEDIC_NODE, MEDIC_MESSAGE, ... env vars)
# or a webhook (JSON POST). Plug in the load balancer and the chat/pager here.
hook "drain" {
  command = ["/usr/bin/logger", "-t", "medic", "drain requested"]
  timeout = "30s"
}

hook "undrain" {
  command = ["/usr/bin/logger", "-t", "medic", "undrain requested"]
}

hook "notify" {
  webhook = "http://127.0.0.1:9095/medic/notify"
  timeout = "10s"
}

# General workers page a human here when a remediation escalates (and resolve when a later run
# heals). medic dev passes --escalation-url to its local sink instead.
# escalation {
#   format           = "pagerduty"     # json | pagerduty | slack
#   routing_key_file = "/etc/medic/pagerduty-key"
# }

temporal {
  address   = "127.0.0.1:7233"
  namespace = "default"
}
