#!/bin/sh
# tcp-advisor preremove: deb prerm ("remove", "upgrade", "deconfigure",
# "failed-upgrade") and rpm %preun ($1 = 0 on erase, 1 on upgrade).
#
# On removal, stops the agent and disables it, so that no enablement link
# outlives the unit file (a reinstall needs `systemctl enable` again). On
# upgrade nothing happens here: postinstall restarts a running agent.
#
# Changes the agent applied stay in force (see postremove), and the binary
# that could roll them back is about to go: while it is still here, this
# writes the originals of every sysctl tcp-advisor still manages to
# /var/lib/tcp-advisor/restore-originals.conf (sysctl.conf form) and says,
# at the prompt, which keys remain changed and how to restore them.
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

state=/var/lib/tcp-advisor
restore=$state/restore-originals.conf
if [ -x /usr/bin/tcp-advisor ] && [ -f "$state/state.json" ]; then
	if /usr/bin/tcp-advisor status --originals --state-dir "$state" >"$restore.new" 2>/dev/null && [ -s "$restore.new" ]; then
		mv "$restore.new" "$restore"
		echo "tcp-advisor: these sysctls keep the values tcp-advisor set; their originals are in $restore:"
		sed -n 's/^\([^#][^ ]*\) = \(.*\)$/  \1 (original "\2")/p' "$restore"
		echo "tcp-advisor: to restore them, run 'tcp-advisor rollback' before removing, or 'sysctl -p $restore' after."
	else
		rm -f "$restore.new" "$restore"
	fi
fi
if [ -d "$state/netns" ] && [ -n "$(ls -A "$state/netns" 2>/dev/null)" ]; then
	echo "tcp-advisor: $state/netns holds the states of other network namespaces it changed; 'tcp-advisor rollback' restores them, before removing."
fi
exit 0
