# A health-check rule: restart the API when its /health fails three checks in a row. Copy it
# into triggers/ to use it (files in examples/ are not loaded).
#
# Checks run on a grid aligned to `every` (multiples of it since the epoch), so two daemons on
# this node check at the same instants and name an episode after the same grid point: its
# first failed check. A check fails on a status other than 2xx, a timeout or a refused or reset
# connection; the body is never read. Redirects are failures unless follow_redirects = true.
rule "api_health" {
  source   = "http"
  url      = "http://127.0.0.1:8080/health"   # http or https; no credentials in the URL
  every    = "5s"
  timeout  = "2s"                             # default: every, at most 5s; never above every
  failures = 3                                # consecutive failed checks that open an episode

  # Successful checks for this long end the episode (default 0: the first success does).
  keep_firing_for = "30s"

  workflow = "restartService"
  reason   = "{{ $node }}: api /health failed 3 checks: {{ $value }}"
  params = {
    unit       = "api.service"
    health_url = "http://127.0.0.1:8080/health"
  }
  target {
    node = "{{ $node }}"
  }
}
