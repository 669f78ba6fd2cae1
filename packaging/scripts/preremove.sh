#!/bin/sh
# tcp-advisor preremove: deb prerm ("remove", "upgrade", "deconfigure",
# "failed-upgrade") and rpm %preun ($1 = 0 on erase, 1 on upgrade).
#
# On removal, stops the agent and disables it, so that no enablement link
# outlives the unit file (a reinstall needs `systemctl enable` again). On
# upgrade nothing happens here: postinstall restarts a running agent.
# Changes the agent applied stay in force: see postremove.
set -e

case "$1" in
	remove | 0) ;;
	*) exit 0 ;;
esac

if command -v systemctl >/dev/null 2>&1; then
	if [ -d /run/systemd/system ]; then
		systemctl stop tcp-advisor.service || true
	fi
	systemctl --no-reload disable tcp-advisor.service >/dev/null 2>&1 || true
fi
exit 0
