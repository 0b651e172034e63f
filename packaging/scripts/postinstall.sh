#!/bin/sh
# Package maintainer script (deb postinst, rpm %post): the medic system user for the
# coordinator and trigger units, and a systemd reload. No unit is enabled or started.
set -e

case "$1" in
  configure | 1 | 2 | "")
    if ! getent group medic >/dev/null; then
      if command -v addgroup >/dev/null 2>&1 && addgroup --help 2>&1 | grep -q -- --system; then
        addgroup --system --quiet medic
      else
        groupadd --system medic
      fi
    fi
    if ! getent passwd medic >/dev/null; then
      if command -v adduser >/dev/null 2>&1 && adduser --help 2>&1 | grep -q -- --system; then
        adduser --system --quiet --ingroup medic --home /var/lib/medic --no-create-home \
          --shell /usr/sbin/nologin --gecos "medic remediation orchestrator" medic
      else
        useradd --system --gid medic --home-dir /var/lib/medic --no-create-home \
          --shell /sbin/nologin --comment "medic remediation orchestrator" medic
      fi
    fi
    # The coordinator and trigger read their config and certificates as medic; nobody else may.
    chgrp medic /etc/medic
    chmod 0750 /etc/medic
    if [ -d /run/systemd/system ]; then
      systemctl daemon-reload >/dev/null 2>&1 || true
    fi
    ;;
esac
exit 0
