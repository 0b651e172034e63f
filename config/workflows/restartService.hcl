# Restart a wedged systemd unit and verify it is healthy again.
workflow          = "restartService"
task_queue_target = "node"
description       = "Restart a systemd unit, verify health, escalate if still unhealthy"

# 1. Not run twice at the same time on one node within 15 minutes.
constraint {
  kind   = "concurrency"
  value  = "1"
  period = "15m"
}

# 2. At most once an hour per node.
constraint {
  kind   = "maxExecution"
  value  = "1"
  period = "1h"
}

# 3. At most three times a day across the whole fleet: more is a wider problem for a human.
constraint {
  kind      = "maxExecution"
  value     = "3"
  period    = "24h"
  is_global = true
}

# A trigger sets the unit (and usually health_url), e.g. unit = "nginx". The unit is a systemd
# unit name by systemd's rules ("-x", "../x" and "a b" are refused); narrow it further with a
# pattern, e.g. pattern = "(nginx|haproxy)(\\.service)?".
param "unit" {
  type        = "unit"
  settable    = true
  pattern     = "[A-Za-z0-9][A-Za-z0-9_.@-]*"
  description = "the systemd unit to restart"
}

# Health is checked on the node itself.
param "health_url" {
  type     = "url"
  settable = true
  hosts    = ["127.0.0.1", "localhost", "[::1]"]
}

param "expect_status" {
  type     = "int"
  settable = true
  min      = 100
  max      = 599
}

param "expect_body" {
  type     = "string"
  settable = true
  max      = 256
}

param "attempts" {
  type    = "int"
  default = "3"
  min     = 1
  max     = 10
}

param "settle" {
  type    = "duration"
  default = "15s"
  max     = "30m"
}

# When it escalates, the page carries the unit's last journal lines (journalctl must be in the
# worker's allowed_commands).
diagnose {
  name    = "journal"
  kind    = "command"
  command = "/usr/bin/journalctl"
  args    = ["-u", "{{params.unit}}", "-n", "50", "--no-pager"]
  timeout = "10s"
}

# An escalation ladder: when the restarts do not heal, ask for a reboot of the node (through the
# same admission: its constraints and fleet budgets apply) before paging a human. rebootNode runs
# on the datacenter's queue, so the triggers must set target.datacenter.
# on_unhealed {
#   start     = "rebootNode"
#   max_depth = 2
# }
