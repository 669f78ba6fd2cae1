package observe

import "github.com/tcp-advisor/tcp-advisor/advisor/netns"

// Paths are where a process finds the kernel's files.
type Paths struct {
	Proc  string // normally /proc
	Sys   string // normally /proc/sys
	Netns string // where `ip netns` names namespaces, normally /run/netns
	// Events is the kernel's connection events every observer reads, or
	// why they are unavailable; zero: none asked for.
	Events Events
}

// DefaultPaths are the paths of a real host.
var DefaultPaths = Paths{Proc: "/proc", Sys: "/proc/sys", Netns: netns.NamedDir}

// Observer returns an observer of this process's namespace, reading the
// connection events.
func (p Paths) Observer() *Observer {
	return New(p.Proc, p.Sys).WithEvents(p.Events)
}

// ObserverIn returns an observer of namespace ns, reading the connection
// events.
func (p Paths) ObserverIn(ns netns.Enterer) *Observer {
	return NewIn(ns, p.Proc, p.Sys).WithEvents(p.Events)
}
