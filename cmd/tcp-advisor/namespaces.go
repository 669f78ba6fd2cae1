package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/tcp-advisor/tcp-advisor/advisor"

	"github.com/tcp-advisor/tcp-advisor/advisor/netns"
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

// namespaceSection is one namespace of --all-namespaces JSON output.
type namespaceSection struct {
	Netns     *netns.Namespace `json:"netns"`
	Precheck  *precheckSection `json:"precheck,omitempty"`
	Diagnosis any              `json:"diagnosis,omitempty"`
	Plan      any              `json:"plan,omitempty"`
	Error     string           `json:"error,omitempty"`
}

// precheckSection is whether a namespace's sockets were dumped and why:
// "dumped" and "summary" ("dumped: no — 12 sockets hold ports of 28232
// usable"), then the pre-check's figures.
type precheckSection struct {
	Dumped  bool   `json:"dumped"`
	Summary string `json:"summary"`
	advisor.Precheck
}

// precheckOf is the section of the judgement's last sample; nil when
// nothing decided.
func precheckOf(j judge.Judgement) *precheckSection {
	p := j.Last.Precheck
	if p == nil {
		return nil
	}
	return &precheckSection{Dumped: p.Dumped(), Summary: p.String(), Precheck: *p}
}

// dumpedLine says how many of the namespaces were dumped per socket.
func dumpedLine(sections []namespaceSection) string {
	var dumped []string
	for _, s := range sections {
		if s.Precheck != nil && s.Precheck.Dumped {
			dumped = append(dumped, s.Netns.String())
		}
	}
	line := fmt.Sprintf("sockets dumped in %d of %d namespace(s)", len(dumped), len(sections))
	if len(dumped) > 0 {
		line += ": " + joinNames(dumped)
	}
	return line
}

// writeSectionsJSON writes {"namespaces": [...]}.
func writeSectionsJSON(w io.Writer, sections []namespaceSection) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(map[string]any{"namespaces": sections})
}

// sectionHeader introduces one namespace in text output: what it is and who
// holds it.
func sectionHeader(n *netns.Namespace) string {
	var b strings.Builder
	fmt.Fprintf(&b, "=== network namespace %s (net:[%d])", n, n.Inode)
	if n.Container != nil {
		fmt.Fprintf(&b, ", container %s", n.Container)
	}
	if len(n.Processes) > 0 {
		var ps []string
		for _, p := range n.Processes[:min(3, len(n.Processes))] {
			s := fmt.Sprintf("%s %d", p.Command, p.PID)
			if p.Unit != "" {
				s += " " + p.Unit
			}
			ps = append(ps, s)
		}
		more := ""
		if n.ProcessCount > len(ps) {
			more = fmt.Sprintf(", %d processes in all", n.ProcessCount)
		}
		fmt.Fprintf(&b, ", held by %s%s", strings.Join(ps, ", "), more)
	}
	return b.String() + "\n"
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
	seen := map[string]bool{}
	for _, n := range nss {
		for _, name := range n.Names() {
			if !seen[name] {
				seen[name] = true
				fmt.Fprintln(stdout, name)
			}
		}
	}
	return nil
}
