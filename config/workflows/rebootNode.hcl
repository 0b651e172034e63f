# Drain, reboot and undrain a node whose hardware or kernel is in a bad state.
workflow          = "rebootNode"
# The workflow runs on any worker of the datacenter and sends drain/reboot/undrain to the node's
# own queue: so it can wait for the node to come back, and escalate if it never does.
task_queue_target = "general"
description       = "Drain, reboot, wait for the worker to return, verify, undrain"

constraint {
  kind   = "concurrency"
  value  = "1"
  period = "1h"
}

constraint {
  kind   = "maxExecution"
  value  = "1"
  period = "24h"
}

# Never reboot more than five machines a day fleet-wide without a human looking.
constraint {
  kind      = "maxExecution"
  value     = "5"
  period    = "24h"
  is_global = true
}

param "return_timeout" {
  type    = "duration"
  default = "15m"
  min     = "1s"
  max     = "6h"
}

param "settle" {
  type    = "duration"
  default = "30s"
  max     = "30m"
}

# When it escalates, the page carries the node's boots (the last line is the current boot id)
# and its uptime, if the node answers; journalctl and uptime must be in its allowed_commands.
diagnose {
  name    = "boots"
  kind    = "command"
  command = "/usr/bin/journalctl"
  args    = ["--list-boots", "--no-pager"]
}

diagnose {
  name    = "uptime"
  kind    = "command"
  command = "/usr/bin/uptime"
  args    = []
}
