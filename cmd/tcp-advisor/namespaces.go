package main

import (
	"flag"
	"io"

	"github.com/tcp-advisor/tcp-advisor/advisor/netns"
	"github.com/tcp-advisor/tcp-advisor/cmd/internal/report"
	"github.com/tcp-advisor/tcp-advisor/policies/judge"
)

// namespaceFlags registers --all-namespaces, --netns and --netns-pid; its
// check, for parseFlags, refuses contradictory ones.
func namespaceFlags(fs *flag.FlagSet) (*judge.Selection, func() error) {
	var s judge.Selection
	fs.BoolVar(&s.All, "all-namespaces", false, "look at every network namespace of the host, one section each")
	fs.StringVar(&s.Name, "netns", "", "look at the network namespace called NAME: its `ip netns` name, nspawn machine, pod (namespace/name), Docker or Podman container name or id, hostname, pod UID or net:[inode]")
	fs.IntVar(&s.PID, "netns-pid", 0, "look at the network namespace process PID runs in")
	fs.BoolVar(&s.Full, "full", false, "with --all-namespaces, dump every namespace's sockets, not only those whose counters say a destination could run short or a rule asks about (one namespace is always dumped)")
	return &s, func() error {
		n := 0
		for _, set := range []bool{s.All, s.Name != "", s.PID != 0} {
			if set {
				n++
			}
		}
		if n > 1 {
			return usagef("--all-namespaces, --netns and --netns-pid each choose the namespaces: give one")
		}
		if s.Full && !s.All {
			return usagef("--full applies to --all-namespaces: one namespace is always dumped whole")
		}
		if s.PID < 0 {
			return usagef("--netns-pid %d: want a process id", s.PID)
		}
		return nil
	}
}

// runNetnsNames lists every name of every namespace, for the completion of
// --netns.
func runNetnsNames(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("netns-names")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	nss, err := netns.NewDiscoverer(paths.Proc, paths.Netns).Discover()
	if err != nil {
		return err
	}
	return report.WriteNamespaceNames(stdout, nss)
}
