// Package systemtest holds tcp-advisor's system test: the .deb installed
// into a real systemd booted in a systemd-nspawn container, and the service
// driven through systemctl and read back through journalctl.
//
// The test needs root, systemd-nspawn (package systemd-container), nsenter
// and unshare (util-linux) and overlayfs. Without them it skips, except under
// CI=true, where it fails. See container_test.go for how the container is
// made and always taken down.
package systemtest
