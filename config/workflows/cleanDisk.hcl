# Free space on a filling disk by removing old files that are safe to remove.
workflow          = "cleanDisk"
task_queue_target = "node"
description       = "Remove old files under an allowed path and verify usage dropped"

constraint {
  kind   = "concurrency"
  value  = "1"
  period = "15m"
}

constraint {
  kind   = "maxExecution"
  value  = "3"
  period = "1h"
}

# paths must lie under the worker's cleanup_paths; patterns match file names.
params = {
  paths      = "/var/log/medic-demo,/var/tmp/medic-demo"
  patterns   = "*.gz,*.log.?,*.log.??,*.tmp"
  older_than = "7d"
}
