# A log rule: restart nginx when the kernel's OOM killer took three of its workers within a
# minute. Copy it into triggers/ to use it (files in examples/ are not loaded).
#
# The file is followed like `tail -F`: by its open descriptor, through renames (logrotate's
# create) and truncations (copytruncate); the read position is kept in the state file, so a
# restart reads on from where it stopped. Lines are matched whole up to 64 KiB (the rest of a
# longer line is not matched). `match` is an RE2 pattern (https://github.com/google/re2/wiki/Syntax):
# it runs in time linear in the line whatever the pattern; backreferences and lookaround are
# refused. Named captures, (?P<name>...) or (?<name>...), are labels for the templates.
rule "nginx_oom" {
  source = "log"
  file   = "/var/log/nginx/error.log"
  # Or a unit's journal, through `journalctl --follow --output=json --unit=nginx.service`:
  # journal_unit = "nginx.service"
  match = "worker process (?P<pid>[0-9]+) exited on signal 9"

  # An episode opens at the match that makes `count` matches within `window` (count defaults
  # to 1) and ends once that no longer holds, plus keep_firing_for (default 0). One start per
  # episode: two daemons reading this file, or one restarted, send the same idempotency key.
  count           = 3
  window          = "1m"
  keep_firing_for = "5m"

  workflow = "restartService"
  reason   = "nginx worker {{ $labels.pid }} was OOM-killed: {{ $value }}"
  params = {
    unit = "nginx.service"
  }

  # Log rules watch the daemon's own machine: {{ $node }} is its node (triggers' `node`, else
  # worker.hcl's, else the host name). This target is also the default when none is given.
  target {
    node = "{{ $node }}"
  }
}

# With group_by, each value of the listed captures is counted and fires on its own, here one
# episode per unit that keeps failing (at most 1000 groups are tracked per rule).
rule "unit_crash_loop" {
  source       = "log"
  journal_unit = "init.scope"
  match        = "(?P<unit>[A-Za-z0-9_.@-]+\\.service): Main process exited, code=(?:killed|dumped)"
  group_by     = ["unit"]
  count        = 5
  window       = "10m"
  workflow     = "restartService"
  params = {
    unit = "{{ $labels.unit }}"
  }
}
