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

# Defaults; a trigger adds the unit (and usually health_url), e.g. unit = "nginx".
params = {
  attempts = "3"
  settle   = "15s"
}
