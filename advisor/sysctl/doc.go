// Package sysctl is tcp-advisor's one way to the kernel's sysctls: the tree
// below a root (normally /proc/sys) as one network namespace sees it. Reads
// go through go-sysctl (Get, ReadAll for every key of advisor's registry);
// the guarded writer beside them (Set) writes only keys the registry marks
// settable, never creates a file or follows a symlink, and reads each value
// back. NewIn binds a tree to another network namespace: every read and
// write then runs inside it (see netns.Enterer). Observation reads through it,
// remediation reads and writes through it.
package sysctl
