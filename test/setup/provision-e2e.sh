#!/usr/bin/env bash
# The end-to-end tests run Debian's prometheus, prometheus-alertmanager, systemd-journal-remote and chromium. Install them when
# missing and this is a Debian machine where we may (root); otherwise say what to install.
# The tests start their own instances on free loopback ports: the install must not start the
# packages' services, and nothing here may stop a Prometheus the user already runs.
set -uo pipefail
missing=()
command -v prometheus >/dev/null 2>&1 || [ -x /usr/bin/prometheus ] || missing+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 || [ -x /usr/bin/prometheus-alertmanager ] || missing+=(prometheus-alertmanager)
# The trigger daemon's journal source is tested with journalctl on a journal this tool writes.
[ -x /lib/systemd/systemd-journal-remote ] || [ -x /usr/lib/systemd/systemd-journal-remote ] || missing+=(systemd-journal-remote)
# The web console's browser tests drive Debian's Chromium (playwright-core, test/helpers/browser.ts).
[ -n "${MEDIC_CHROMIUM:-}" ] || command -v chromium >/dev/null 2>&1 || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0

# Pids of the packages' executables running as services (their parent is init), read from /proc:
# nothing is signalled here, and a Prometheus that a test or a user started has another parent.
service_pids() {
  local exe pid
  for exe in /proc/[0-9]*/exe; do
    pid=${exe#/proc/}
    pid=${pid%/exe}
    case "$(readlink "$exe" 2>/dev/null)" in
      /usr/bin/prometheus | /usr/bin/prometheus-alertmanager)
        [ "$(awk '/^PPid:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)" = 1 ] && echo "$pid"
        ;;
      *) ;;
    esac
  done
}

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "e2e: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive

  # Debian's policy-rc.d: invoke-rc.d and deb-systemd-invoke start no service while it exits 101.
  # Ours only when the machine has none (a Docker image ships one that already forbids starts), created
  # atomically (noclobber) so a concurrent run never takes another's, and removed on any exit.
  policy=/usr/sbin/policy-rc.d
  marker='# medic test/setup/provision-e2e.sh: no service starts during its install'
  own_policy=false
  if (
    set -o noclobber
    printf '#!/bin/sh\n%s\nexit 101\n' "$marker" >"$policy"
  ) 2>/dev/null; then
    own_policy=true
    chmod 755 "$policy"
    trap 'grep -qxF "$marker" "$policy" 2>/dev/null && rm -f "$policy"' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
  fi

  before=" $(service_pids | tr '\n' ' ') "
  if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
    echo "e2e: apt-get install ${missing[*]} failed" >&2
    exit 1
  fi
  # A policy-rc.d of the machine's own may allow starts: stop the services this install started,
  # by pid. A service that ran before the install is never touched.
  if [ "$own_policy" = false ]; then
    for pid in $(service_pids); do
      case "$before" in
        *" $pid "*) ;;
        *)
          echo "e2e: stopping $(readlink "/proc/$pid/exe" 2>/dev/null) (pid $pid), started by the install"
          kill -TERM "$pid" 2>/dev/null || true
          ;;
      esac
    done
  fi
  if [ -d /run/systemd/system ]; then
    echo "e2e: the packages' services are enabled for the next boot; the tests do not need them:" >&2
    echo "e2e:   systemctl disable ${missing[*]}" >&2
  fi
  exit 0
fi
echo "e2e: ${missing[*]} not installed and cannot install them here (needs root and apt-get):" >&2
echo "e2e:   sudo apt-get install --no-install-recommends ${missing[*]}" >&2
echo "e2e: the end-to-end tests will fail until they are installed." >&2
exit 0
