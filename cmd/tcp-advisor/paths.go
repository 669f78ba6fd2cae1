package main

// Where the kernel's files are, and the default state directory.
const (
	procRoot        = "/proc"
	sysRoot         = "/proc/sys"
	defaultStateDir = "/var/lib/tcp-advisor"
)
