package netnstest

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Unnamed starts name with args in a new unnamed network namespace with
// loopback up, and kills it when the test ends: the process holds the
// namespace, which goes when it exits. When ready is not empty it
// waits for a line of standard output containing it; otherwise it waits
// until the command runs (its comm is name's).
func Unnamed(t testing.TB, ready, name string, args ...string) *NS {
	t.Helper()
	return unnamed(t, []string{"--net"}, `ip link set lo up && exec "$0" "$@"`, ready, name, args...)
}

// UnnamedHost is Unnamed with a UTS namespace of its own too, whose
// hostname is hostname: a container as `unshare` or an unregistered
// systemd-nspawn makes one, which no runtime names.
func UnnamedHost(t testing.TB, hostname, ready, name string, args ...string) *NS {
	t.Helper()
	RequireTools(t, "hostname")
	return unnamed(t, []string{"--net", "--uts"}, `hostname '`+hostname+`' && ip link set lo up && exec "$0" "$@"`, ready, name, args...)
}

// unnamed starts name with args under unshare with flags, after script's
// set-up (which ends by exec'ing "$0" "$@"), and waits as Unnamed does.
func unnamed(t testing.TB, flags []string, script, ready, name string, args ...string) *NS {
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
	h := &NS{PID: cmd.Process.Pid, cmd: cmd}
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

// Kill ends the holder of an unnamed namespace and waits for it; the
// namespace goes with it. A named namespace's Kill does nothing: the test's
// end deletes it.
func (ns *NS) Kill() {
	if ns.cmd == nil || ns.cmd.ProcessState != nil {
		return
	}
	_ = ns.cmd.Process.Signal(syscall.SIGKILL)
	_ = ns.cmd.Wait()
}
