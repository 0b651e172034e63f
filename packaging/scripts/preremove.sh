#!/bin/sh
# Package maintainer script (deb prerm, rpm %preun): on removal (not upgrade), stop and disable
# the medic units so no daemon runs a binary that is about to disappear.
set -e

case "$1" in
  remove | 0)
    if [ -d /run/systemd/system ]; then
      systemctl --no-reload disable --now medic-worker.service medic-coordinator.service medic-trigger.service \
        >/dev/null 2>&1 || true
    fi
    ;;
esac
exit 0
