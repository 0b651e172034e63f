#!/bin/sh
# Package maintainer script (deb postrm, rpm %postun): reload systemd after removal; on purge,
# also remove medic's state. /etc/medic conffiles stay on remove (dpkg deletes them on purge).
set -e

case "$1" in
  purge)
    rm -rf /var/lib/medic
    if getent passwd medic >/dev/null && command -v deluser >/dev/null 2>&1; then
      deluser --system --quiet medic >/dev/null 2>&1 || true
    fi
    ;;
esac
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
