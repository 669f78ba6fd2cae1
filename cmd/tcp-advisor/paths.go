package main

import "github.com/tcp-advisor/tcp-advisor/advisor/observe"

// Where the kernel's files are, and the default state directory.
var (
	paths           = observe.DefaultPaths
	defaultStateDir = "/var/lib/tcp-advisor"
)
