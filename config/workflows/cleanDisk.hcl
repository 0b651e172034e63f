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

# Params: what callers may change is declared here, and nothing else. paths, patterns and
# older_than are locked: a caller who could set patterns = "*" and older_than = "0s" would
# delete everything under the allowed paths. paths must also lie under the worker's cleanup_paths.
param "paths" {
  type     = "path"
  list     = true
  default  = "/var/log/medic-demo,/var/tmp/medic-demo"
  prefixes = ["/var/log/medic-demo", "/var/tmp/medic-demo"]
}

param "patterns" {
  type    = "string"
  list    = true
  default = "*.gz,*.log.?,*.log.??,*.tmp"
}

param "older_than" {
  type    = "duration"
  default = "7d"
  min     = "1d"
}

# Which filesystem's usage to verify (an alert or trigger rule names it).
param "mountpoint" {
  type        = "path"
  settable    = true
  pattern     = "/|/var|/var/log|/var/tmp|/srv|/home"
  description = "the filesystem whose usage must drop"
}

# When it escalates, the page carries the filesystems' usage and the directories of 10 MB or
# more two levels under the paths ({{params.paths}} alone in an argument: one argument per path).
# df and du must be in the worker's allowed_commands.
diagnose {
  name    = "df"
  kind    = "command"
  command = "/usr/bin/df"
  args    = ["-h"]
}

diagnose {
  name    = "largest-dirs"
  kind    = "command"
  command = "/usr/bin/du"
  args    = ["-x", "-h", "-d", "2", "-t", "10M", "{{params.paths}}"]
  timeout = "30s"
}
