# The medic dev demo: the demo service answers 503 while a stale lock file sits in its directory
# (`medic demo break` leaves one). This runbook sees it failing, removes the lock with
# /usr/bin/unlink (one file, never a directory; allow-listed in worker.hcl) and checks that the
# service answers again. `medic dev` prints the exact command, with demo_dir (and port) filled in.
workflow          = "runbook"
task_queue_target = "node"
description       = "Heal the medic dev demo service: clear its stale lock, verify it answers again"

# The demo's directory (medic dev prints it) and the demo service's port: a number, so a value
# like "1@169.254.169.254" cannot point the health check at another host.
param "demo_dir" {
  type     = "path"
  settable = true
  pattern  = "/.*/demo"
}

param "port" {
  type     = "int"
  settable = true
  default  = "8090"
  min      = 1024
  max      = 65535
}

constraint {
  kind   = "concurrency"
  value  = "1"
  period = "15m"
}

constraint {
  kind   = "maxExecution"
  value  = "10"
  period = "1h"
}

# A healthy service: nothing to heal, no page.
step {
  name          = "see-it-failing"
  kind          = "http_check"
  url           = "http://127.0.0.1:{{params.port}}/health"
  expect_status = 503
  precondition  = true
}

step {
  name    = "clear-stale-lock"
  kind    = "command"
  command = "/usr/bin/unlink"
  args    = ["{{params.demo_dir}}/stale.lock"]
  timeout = "10s"
}

step {
  name        = "service-answers"
  kind        = "http_check"
  url         = "http://127.0.0.1:{{params.port}}/health"
  expect_body = "ok"
  attempts    = 5
  retry_delay = "1s"
}

# When it escalates (`medic demo break --hard` leaves a directory where the lock file was), the
# page shows what sits there.
diagnose {
  name    = "lock"
  kind    = "command"
  command = "/usr/bin/ls"
  args    = ["-ld", "{{params.demo_dir}}/stale.lock"]
}
