#!/bin/sh
# tcp-advisor postremove: deb postrm ("remove", "purge", "upgrade",
# "failed-upgrade", "abort-*", "disappear") and rpm %postun ($1 = 0 on
# erase, 1 on upgrade).
#
# Makes systemd and the journal catalog forget the removed files. On purge
# (deb only), deletes the agent's state, /var/lib/tcp-advisor: the record of
# original sysctl values that rollback needs, useless without the agent.
# rpm has no purge; its erase leaves /var/lib/tcp-advisor, like `apt remove`.
#
# Neither removal nor purge touches the kernel or /etc/sysctl.d: values the
# agent applied in enforce mode stay in force, and a drop-in it persisted
# (/etc/sysctl.d/90-tcp-advisor.conf by default) keeps them across reboots.
# Uninstalling a tuning agent must not change a production host's network
# behaviour at its next boot; delete the drop-in to return to the defaults.
set -e

purge=false
case "$1" in
	purge) purge=true ;;
	remove | 0 | upgrade | 1) ;;
	*) exit 0 ;;
esac

if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
	systemctl daemon-reload || true
fi
if command -v journalctl >/dev/null 2>&1; then
	journalctl --update-catalog || true
fi

if [ "$purge" = true ]; then
	rm -rf /var/lib/tcp-advisor
	for f in /etc/sysctl.d/*tcp-advisor*.conf; do
		[ -e "$f" ] || continue
		echo "tcp-advisor: $f is kept: the sysctl values it persists stay in force at boot. Delete it to return to the defaults."
	done
fi
exit 0
