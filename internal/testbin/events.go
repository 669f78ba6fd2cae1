package testbin

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// EventsEnv names the environment variable that chooses how the tests start
// tcp-advisor: set to "refused", Advisor starts it with the connection-events
// program refused; unset or empty, as it is.
const EventsEnv = "TCP_ADVISOR_TEST_KERNEL_EVENTS"

// dropBPF are the setpriv arguments that drop CAP_BPF, CAP_PERFMON and
// CAP_SYS_ADMIN (which the kernel accepts in their stead) from the bounding
// and inheritable sets: the kernel then refuses the events program.
var dropBPF = []string{"--inh-caps=-bpf,-perfmon,-sys_admin", "--bounding-set=-bpf,-perfmon,-sys_admin", "--"}

// WithoutBPF returns the command line that runs name with args with
// CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN dropped, through setpriv.
func WithoutBPF(name string, args ...string) (string, []string) {
	return "setpriv", append(append(append([]string(nil), dropBPF...), name), args...)
}

// EventsRefused reports whether EventsEnv asks for the events program to be
// refused; it stops the test on a value it does not know.
func EventsRefused(tb testing.TB) bool {
	tb.Helper()
	switch v := os.Getenv(EventsEnv); v {
	case "":
		return false
	case "refused":
		return true
	default:
		tb.Fatalf("%s=%q: want \"refused\" or nothing", EventsEnv, v)
		return false
	}
}

// Refusals: the two ways Advisor and AdvisorEntering refuse the events
// program, and the start of what tcp-advisor then says ("kernel events
// unavailable: REASON" in status, diagnose, JSON, the STATUS line and the
// kernel_events_available metric's reason label).
const (
	// CapsDropped: CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN dropped
	// (WithoutBPF), as where the unit's capabilities are taken away.
	CapsDropped = "kernel events unavailable: CAP_BPF and CAP_PERFMON missing"
	// BPFRefused: bpf(2) refused by a seccomp filter (internal/cmd/nobpf)
	// with every capability kept, as where a kernel's policy refuses it.
	BPFRefused = "kernel events unavailable: bpf() refused with the capabilities held ("
)

// Advisor builds tcp-advisor (Build) and returns the path the tests start
// it by. Under EventsEnv=refused that is a script of its own, also named
// tcp-advisor, that execs the binary through setpriv without CAP_BPF,
// CAP_PERFMON and CAP_SYS_ADMIN: exec keeps the process id, so a signal to
// the started process reaches tcp-advisor itself. Real gives the binary
// behind it, for tests that copy it; Refused what it says about the events.
func Advisor(tb testing.TB) string {
	tb.Helper()
	bin := Build(tb, "cmd/tcp-advisor")
	if !EventsRefused(tb) {
		return bin
	}
	Tool(tb, "setpriv", "util-linux")
	name, args := WithoutBPF(bin)
	return wrap(tb, bin, CapsDropped, name, args)
}

// AdvisorEntering is Advisor for tests whose tcp-advisor enters other
// network namespaces (--all-namespaces, --netns, the state's namespace
// checks): setns(2) needs CAP_SYS_ADMIN, which also lets the events program
// load, so under EventsEnv=refused its script execs the binary through
// internal/cmd/nobpf, which refuses the bpf(2) system call instead.
func AdvisorEntering(tb testing.TB) string {
	tb.Helper()
	bin := Build(tb, "cmd/tcp-advisor")
	if !EventsRefused(tb) {
		return bin
	}
	return wrap(tb, bin, BPFRefused, Build(tb, "internal/cmd/nobpf"), []string{bin})
}

// wrapper is a script that runs a binary with the events program refused.
type wrapper struct {
	bin string // the binary it execs
	why string // CapsDropped or BPFRefused
}

// wrappers holds the scripts Advisor and AdvisorEntering wrote, by path.
var wrappers = map[string]wrapper{}

// wrap writes, once per refusal, a script named as bin, in a directory of
// its own, that execs name with args and its own arguments, and returns its
// path.
func wrap(tb testing.TB, bin, why, name string, args []string) string {
	tb.Helper()
	mu.Lock()
	defer mu.Unlock()
	for path, w := range wrappers {
		if w == (wrapper{bin, why}) {
			return path
		}
	}
	d, err := os.MkdirTemp(filepath.Dir(bin), "refused-")
	if err != nil {
		tb.Fatal(err)
	}
	line := []string{"exec", quote(name)}
	for _, a := range args {
		line = append(line, quote(a))
	}
	path := filepath.Join(d, filepath.Base(bin))
	script := "#!/bin/sh\n" + strings.Join(line, " ") + ` "$@"` + "\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		tb.Fatal(err)
	}
	wrappers[path] = wrapper{bin, why}
	return path
}

// Refused returns how tcp-advisor started by path (from Advisor or
// AdvisorEntering) says the events are unavailable, CapsDropped or
// BPFRefused, each what its message starts with; "" where they are not
// refused.
func Refused(path string) string {
	mu.Lock()
	defer mu.Unlock()
	return wrappers[path].why
}

// quote quotes s for sh.
func quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Real returns the binary behind a path Advisor or AdvisorEntering
// returned: the path itself unless it is a script that refuses the events
// program.
func Real(path string) string {
	mu.Lock()
	defer mu.Unlock()
	if w, ok := wrappers[path]; ok {
		return w.bin
	}
	return path
}
