package netnstest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Holder is a process that made an unnamed network namespace with
// `unshare --net` and is its only way in: the namespace goes when it exits,
// as a container's does.
type Holder struct {
	// PID is the holding process: unshare, which became the command.
	PID int
	cmd *exec.Cmd
}

// Unnamed starts name with args in a new unnamed network namespace with
// loopback up, and kills it when the test ends. When ready is not empty it
// waits for a line of standard output containing it; otherwise it waits
// until the command runs (its comm is name's).
func Unnamed(t testing.TB, ready, name string, args ...string) *Holder {
	t.Helper()
	return unnamed(t, []string{"--net"}, `ip link set lo up && exec "$0" "$@"`, ready, name, args...)
}

// UnnamedHost is Unnamed with a UTS namespace of its own too, whose
// hostname is hostname: a container as `unshare` or an unregistered
// systemd-nspawn makes one, which no runtime names.
func UnnamedHost(t testing.TB, hostname, ready, name string, args ...string) *Holder {
	t.Helper()
	RequireTools(t, "hostname")
	return unnamed(t, []string{"--net", "--uts"}, `hostname '`+hostname+`' && ip link set lo up && exec "$0" "$@"`, ready, name, args...)
}

// unnamed starts name with args under unshare with flags, after script's
// set-up (which ends by exec'ing "$0" "$@"), and waits as Unnamed does.
func unnamed(t testing.TB, flags []string, script, ready, name string, args ...string) *Holder {
	t.Helper()
	RequireTools(t, "unshare", "sh", "ip", "nsenter")
	cmd := exec.Command("unshare", append(append(flags, "--", "sh", "-c", script, name), args...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("unshare --net %s: %v", name, err)
	}
	h := &Holder{PID: cmd.Process.Pid, cmd: cmd}
	t.Cleanup(h.Kill)
	found := waitLine(out, ready)
	deadline := time.After(30 * time.Second)
	comm := filepath.Base(name)
	if len(comm) > 15 {
		comm = comm[:15]
	}
	for {
		if ready == "" {
			if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", h.PID)); err == nil && strings.TrimSpace(string(b)) == comm {
				return h
			}
		}
		select {
		case ok := <-found:
			if !ok {
				t.Fatalf("unshare --net %s %s: exited before it was ready", name, strings.Join(args, " "))
			}
			return h
		case <-deadline:
			t.Fatalf("unshare --net %s %s: not ready after 30s", name, strings.Join(args, " "))
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// waitLine reads out to its end. The returned channel yields true at the
// first line containing ready (never when ready is empty), or false when out
// ends before such a line: the command exited before it was ready.
func waitLine(out io.Reader, ready string) <-chan bool {
	found := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		seen := false
		for sc.Scan() {
			if !seen && ready != "" && strings.Contains(sc.Text(), ready) {
				seen = true
				found <- true
			}
		}
		if !seen {
			found <- false
		}
	}()
	return found
}

// Kill ends the holder and waits for it; its namespace goes with it.
func (h *Holder) Kill() {
	if h.cmd.ProcessState != nil {
		return
	}
	_ = h.cmd.Process.Signal(syscall.SIGKILL)
	_ = h.cmd.Wait()
}

// Command returns a command that runs name inside the holder's namespace.
func (h *Holder) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "nsenter", append([]string{"--target", strconv.Itoa(h.PID), "--net", "--", name}, args...)...)
}

// MustRun runs a command inside the holder's namespace and returns its
// standard output; it fails the test if the command fails.
func (h *Holder) MustRun(t testing.TB, name string, args ...string) string {
	t.Helper()
	return mustRun(t, h.Command(context.Background(), name, args...), fmt.Sprintf("pid %d's namespace", h.PID))
}

// SetSysctl writes a sysctl inside the holder's namespace.
func (h *Holder) SetSysctl(t testing.TB, key, value string) {
	t.Helper()
	setSysctl(t, h, key, value)
}

// Sysctl reads a sysctl inside the holder's namespace, whitespace-normalized.
func (h *Holder) Sysctl(t testing.TB, key string) string {
	t.Helper()
	return sysctl(t, h, key)
}

// Inode returns the inode of the holder's network namespace.
func (h *Holder) Inode(t testing.TB) uint64 {
	t.Helper()
	return inodeOf(t, fmt.Sprintf("/proc/%d/ns/net", h.PID))
}

// Inode returns the inode of the namespace.
func (ns *NS) Inode(t testing.TB) uint64 {
	t.Helper()
	return inodeOf(t, filepath.Join("/run/netns", ns.Name))
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
		t.Fatalf("in %s: %s: %v", ns.Name, name, err)
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
			t.Fatalf("in %s: %s exited before it was ready", ns.Name, name)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("in %s: %s not ready after 30s", ns.Name, name)
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

// runner runs commands in a namespace: an NS or a Holder.
type runner interface {
	MustRun(t testing.TB, name string, args ...string) string
}

func setSysctl(t testing.TB, r runner, key, value string) {
	t.Helper()
	r.MustRun(t, "sysctl", "-q", "-w", key+"="+value)
}

func sysctl(t testing.TB, r runner, key string) string {
	t.Helper()
	return normalize(r.MustRun(t, "sysctl", "-n", key))
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
