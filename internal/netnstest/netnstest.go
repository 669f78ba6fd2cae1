// Package netnstest gives kernel tests a scratch network namespace with
// loopback up, so they can make real sockets and write real sysctls without
// touching the host's. Tests that need it skip without root, except under
// CI=true, where a missing prerequisite fails the test.
package netnstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tcp-advisor/tcp-advisor/advisor/netns"
	"github.com/tcp-advisor/tcp-advisor/internal/testbin"
)

// insideEnv marks a test binary re-executed inside a namespace.
const insideEnv = "NETNSTEST_INSIDE"

// NS is a scratch network namespace: a named one that `ip netns add` made
// (New, NewIsolated), entered with `ip netns exec`, or an unnamed one that a
// process made with `unshare --net` and holds (Unnamed), entered with
// nsenter, gone when its holder exits, as a container's is.
type NS struct {
	// Name is the namespace's name under /run/netns; empty when unnamed.
	Name string
	// PID is the holding process of an unnamed namespace (unshare, which
	// became the command); 0 for a named one.
	PID int
	cmd *exec.Cmd // the holder
}

// String names the namespace in test messages.
func (ns *NS) String() string {
	if ns.Name != "" {
		return ns.Name
	}
	return fmt.Sprintf("pid %d's namespace", ns.PID)
}

// Require stops the test unless it can make namespaces: skip normally, fail
// under CI=true.
func Require(t testing.TB) {
	t.Helper()
	RequireTools(t, "ip", "ss")
}

// RequireTools stops the test unless it runs as root and finds the tools:
// skip normally, fail under CI=true.
func RequireTools(t testing.TB, tools ...string) {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) == 0 {
		return
	}
	testbin.Missing(t, "kernel test needs "+strings.Join(missing, ", "))
}

// New creates a namespace named after the test with loopback up, and deletes
// it when the test ends.
func New(t testing.TB) *NS {
	t.Helper()
	Require(t)
	return newNS(t, func(name string) *exec.Cmd {
		return exec.Command("ip", "netns", "add", name)
	})
}

// newNS picks a fresh name, runs the command create returns for it, which
// must make the named namespace, deletes the namespace when the test ends
// and brings its loopback up.
func newNS(t testing.TB, create func(name string) *exec.Cmd) *NS {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	ns := &NS{Name: "tcpadv-" + hex.EncodeToString(b)}
	cmd := create(ns.Name)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(cmd.Args, " "), err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns.Name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", ns.Name, err, out)
		}
	})
	ns.MustRun(t, "ip", "link", "set", "lo", "up")
	return ns
}

// NewIsolated is New with a TCP established hash table of the
// namespace's own, of ehashEntries buckets (net.ipv4.tcp_child_ehash_entries,
// Linux 6.1, set in a throwaway parent namespace, never the host's). A
// sock_diag dump walks the whole hash table it reads, so on the shared table
// a benchmark's hundreds of thousands of sockets would slow every other
// namespace's dumps, and other namespaces' sockets would skew the
// benchmark. On a kernel without the sysctl it falls back to New.
func NewIsolated(t testing.TB, ehashEntries int) *NS {
	t.Helper()
	if _, err := os.Stat("/proc/sys/net/ipv4/tcp_child_ehash_entries"); err != nil {
		t.Logf("no tcp_child_ehash_entries: the namespace shares the host's hash table")
		return New(t)
	}
	RequireTools(t, "ip", "ss", "unshare", "sh", "sysctl")
	return newNS(t, func(name string) *exec.Cmd {
		script := fmt.Sprintf("sysctl -qw net.ipv4.tcp_child_ehash_entries=%d && ip netns add %s", ehashEntries, name)
		return exec.Command("unshare", "--net", "sh", "-c", script)
	})
}

// Command returns a command that runs name inside the namespace.
func (ns *NS) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	if ns.Name == "" {
		return exec.CommandContext(ctx, "nsenter", append([]string{"--target", strconv.Itoa(ns.PID), "--net", "--", name}, args...)...)
	}
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}

// MustRun runs a command inside the namespace and returns its standard
// output; it fails the test if the command fails.
func (ns *NS) MustRun(t testing.TB, name string, args ...string) string {
	t.Helper()
	return mustRun(t, ns.Command(context.Background(), name, args...), ns.String())
}

// SetSysctl writes a sysctl inside the namespace, never on the host.
func (ns *NS) SetSysctl(t testing.TB, key, value string) {
	t.Helper()
	ns.MustRun(t, "sysctl", "-q", "-w", key+"="+value)
}

// Sysctl reads a sysctl inside the namespace, whitespace-normalized.
func (ns *NS) Sysctl(t testing.TB, key string) string {
	t.Helper()
	return normalize(ns.MustRun(t, "sysctl", "-n", key))
}

// Inode returns the inode of the namespace.
func (ns *NS) Inode(t testing.TB) uint64 {
	t.Helper()
	if ns.Name == "" {
		return inodeOf(t, fmt.Sprintf("/proc/%d/ns/net", ns.PID))
	}
	return inodeOf(t, filepath.Join("/run/netns", ns.Name))
}

// Inside reports whether this test binary already runs inside the test's
// namespace. Otherwise it creates a namespace, re-executes the current test
// there (the -test.run pattern selects t.Name() alone) and returns false; the
// caller then returns, and the inner run's failures fail this test.
//
//	if !netnstest.Inside(t) { return }
//	... make sockets, observe ...
func Inside(t *testing.T) bool {
	t.Helper()
	if os.Getenv(insideEnv) == t.Name() {
		return true
	}
	ns := New(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := ns.Command(context.Background(), exe, "-test.run", "^"+runPattern(t.Name())+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), insideEnv+"="+t.Name())
	out, err := cmd.CombinedOutput()
	t.Logf("inside %s:\n%s", ns.Name, out)
	if err != nil {
		t.Fatalf("test inside namespace failed: %v", err)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("test inside namespace did not run")
	}
	return false
}

// runPattern turns a test name (Top/sub) into a -test.run pattern.
func runPattern(name string) string {
	parts := strings.Split(name, "/")
	return strings.Join(parts, "$/^")
}

// Start starts a command inside the namespace in the background and stops it
// (SIGTERM) when the test ends. When ready is not empty it waits for a line
// of standard output containing it, and fails the test if the command exits
// first.
func (ns *NS) Start(t testing.TB, ready, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := ns.Command(context.Background(), name, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("in %s: %s: %v", ns, name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	found := waitLine(out, ready)
	if ready == "" {
		return cmd
	}
	select {
	case ok := <-found:
		if !ok {
			t.Fatalf("in %s: %s exited before it was ready", ns, name)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("in %s: %s not ready after 30s", ns, name)
	}
	return cmd
}

// HostSysctl reads a sysctl of the test's own namespace (the host's, outside
// a namespace test) through /proc/sys, whitespace-normalized. Tests read the
// host's values to assert they did not change; they never write them.
func HostSysctl(t testing.TB, key string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(key, ".", "/"))
	if err != nil {
		t.Fatal(err)
	}
	return normalize(string(b))
}

// normalize joins a sysctl value's fields with single spaces.
func normalize(v string) string {
	return strings.Join(strings.Fields(v), " ")
}

func inodeOf(t testing.TB, path string) uint64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

func mustRun(t testing.TB, cmd *exec.Cmd, where string) string {
	t.Helper()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("in %s: %s: %v: %s", where, strings.Join(cmd.Args, " "), err, stderr.String())
	}
	return string(out)
}

// Cookie returns the namespace's cookie (SO_NETNS_COOKIE), read inside
// it as the agent reads it (advisor/netns). Unlike its inode, which the
// kernel gives the next namespace once this one is freed, a cookie is never
// reused within a boot.
func (ns *NS) Cookie(t testing.TB) uint64 {
	t.Helper()
	nss, err := netns.NewDiscoverer("/proc", netns.NamedDir).Discover()
	if err != nil {
		t.Fatalf("%s: %v", ns, err)
	}
	n, ok := netns.Find(nss, ns.Inode(t))
	if !ok {
		t.Fatalf("%s: not among the namespaces discovery finds", ns)
	}
	c, err := n.Cookie()
	if err != nil || c == 0 {
		t.Fatalf("%s: cookie %d: %v", ns, c, err)
	}
	return c
}
