#!/bin/sh
# tcp-advisor postremove: deb postrm ("remove", "purge", "upgrade",
# "failed-upgrade", "abort-*", "disappear") and rpm %postun ($1 = 0 on
# erase, 1 on upgrade).
#
# Makes systemd and the journal catalog forget the removed files.
#
# Neither removal nor purge touches the kernel or /etc/sysctl.d: values the
# agent applied in enforce mode stay in force, and a drop-in it persisted
# (/etc/sysctl.d/90-tcp-advisor.conf by default) keeps them across reboots.
# Uninstalling a tuning agent must not change a production host's network
# behaviour at its next boot.
#
# Purge (deb only) never deletes the only record of live changes: when a
# sysctl in /var/lib/tcp-advisor/restore-originals.conf (written at removal,
# see preremove) still differs from its original, /var/lib/tcp-advisor is
# kept, and this says which keys and how to restore them; otherwise it is
# deleted. rpm has no purge; its erase leaves /var/lib/tcp-advisor, like
# `apt remove`.
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

[ "$purge" = true ] || exit 0

state=/var/lib/tcp-advisor
restore=$state/restore-originals.conf
changed=""
if [ -f "$restore" ]; then
	while IFS= read -r line; do
		case "$line" in "" | "#"*) continue ;; esac
		key=${line%% = *}
		want=${line#* = }
		have=$(sysctl -n "$key" 2>/dev/null | tr -s '[:blank:]' ' ') || have="?"
		[ "$have" = "$want" ] || changed="$changed $key"
	done <"$restore"
fi
if [ -n "$changed" ]; then
	echo "tcp-advisor: kept $state: it holds the only record of the original values of$changed, which still differ from them."
	echo "tcp-advisor: restore them with 'sysctl -p $restore', then delete $state."
else
	rm -rf "$state"
fi
for f in /etc/sysctl.d/*tcp-advisor*.conf; do
	[ -e "$f" ] || continue
	echo "tcp-advisor: $f is kept: the sysctl values it persists stay in force at boot. Delete it to return to the defaults."
done
exit 0
