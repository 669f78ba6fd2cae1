package main

import "github.com/tcp-advisor/tcp-advisor/remediate/agent"

// Where the kernel's files are, and the default state directory.
var (
	paths           = agent.DefaultPaths
	defaultStateDir = "/var/lib/tcp-advisor"
)
