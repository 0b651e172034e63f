# A runbook: steps declared here, run in order by the generic `runbook` workflow. A team adds
# a remediation like this without writing TypeScript. Commands must be in worker.hcl allowed_commands.
workflow          = "runbook"
task_queue_target = "node"
description       = "Step the clock with chrony and verify the offset is back under 500ms"

constraint {
  kind   = "concurrency"
  value  = "1"
  period = "15m"
}

step {
  name    = "step-clock"
  kind    = "command"
  command = "/usr/bin/chronyc"
  args    = ["makestep"]
  timeout = "30s"
}

step {
  name     = "let-it-settle"
  kind     = "wait"
  duration = "1m"
}

step {
  name        = "offset-is-small"
  kind        = "prometheus_check"
  query       = "abs(node_timex_offset_seconds{instance=\"{{node}}\"}) > 0.5"
  expect      = "empty"
  attempts    = 3
  retry_delay = "30s"
}

step {
  name    = "tell-the-channel"
  kind    = "notify"
  message = "clock on {{node}} resynchronised by medic"
}
