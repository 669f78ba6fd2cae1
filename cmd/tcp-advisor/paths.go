package main

import "github.com/tcp-advisor/tcp-advisor/remediate/orchestrate"

// Where the kernel's files are, and the default state directory.
var (
	paths           = orchestrate.DefaultPaths
	defaultStateDir = "/var/lib/tcp-advisor"
)
