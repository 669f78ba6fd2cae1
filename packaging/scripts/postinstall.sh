#!/bin/sh
# tcp-advisor postinstall: deb postinst ("configure" [previous-version], or
# "abort-*") and rpm %post ($1 = 1 on install, 2 on upgrade).
#
# Makes systemd and journalctl -x see the new unit and catalog. Never enables
# or starts the service: that is the administrator's call
# (systemctl enable --now tcp-advisor). On upgrade, a running agent is
# restarted so that it runs the new binary; a stopped one stays stopped.
set -e

upgrade=false
case "$1" in
	configure) [ -z "$2" ] || upgrade=true ;;
	[0-9]*) [ "$1" -lt 2 ] || upgrade=true ;;
esac

if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
	systemctl daemon-reload || true
	if [ "$upgrade" = true ]; then
		systemctl try-restart tcp-advisor.service || true
	fi
fi

# journalctl --update-catalog needs no running systemd (image builds too).
if command -v journalctl >/dev/null 2>&1; then
	journalctl --update-catalog || true
fi

if [ "$upgrade" = false ]; then
	echo "tcp-advisor installed (not enabled). Start it with: systemctl enable --now tcp-advisor"
fi
exit 0
