package observe

import "github.com/tcp-advisor/tcp-advisor/advisor/netns"

// Paths are where a process finds the kernel's files.
type Paths struct {
	Proc  string // normally /proc
	Sys   string // normally /proc/sys
	Netns string // where `ip netns` names namespaces, normally /run/netns
}

// DefaultPaths are the paths of a real host.
var DefaultPaths = Paths{Proc: "/proc", Sys: "/proc/sys", Netns: netns.NamedDir}
