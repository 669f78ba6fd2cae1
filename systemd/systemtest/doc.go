// Package systemtest holds tcp-advisor's system test: the .deb installed
// into a real systemd booted in a systemd-nspawn container, and the service
// driven through systemctl and read back through journalctl.
//
// The test needs root, systemd-nspawn (package systemd-container), nsenter
// and unshare (util-linux) and overlayfs. Without them it skips, except under
// CI=true, where it fails. See container_test.go for how the container is
// made and always taken down.
//
// The directory is a module of its own (go.mod here, which replaces the
// repository's module with ../..), so the PromQL parser the dashboard check
// needs stays out of the binary's go.mod: run it from here, as make unit
// does, with `CI=true go test -count=1 ./...`.
package systemtest
