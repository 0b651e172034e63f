#!/usr/bin/env bash
# The end-to-end tests run Debian's prometheus and prometheus-alertmanager. Install them when
# missing and this is a Debian machine where we may (root); otherwise say what to install.
set -uo pipefail
missing=()
command -v prometheus >/dev/null 2>&1 || [ -x /usr/bin/prometheus ] || missing+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 || [ -x /usr/bin/prometheus-alertmanager ] || missing+=(prometheus-alertmanager)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "e2e: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || {
    echo "e2e: apt-get install ${missing[*]} failed" >&2
    exit 1
  }
  # Where an init system runs, the packages start their own services; the tests start their
  # own instances on free loopback ports and need none of these.
  pkill -x prometheus 2>/dev/null || true
  pkill -x prometheus-alertmanager 2>/dev/null || true
  exit 0
fi
echo "e2e: ${missing[*]} not installed and cannot install them here (needs root and apt-get):" >&2
echo "e2e:   sudo apt-get install --no-install-recommends ${missing[*]}" >&2
echo "e2e: the end-to-end tests will fail until they are installed." >&2
exit 0
