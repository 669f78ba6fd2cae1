package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tcp-advisor/tcp-advisor/internal/netnstest"
	"github.com/tcp-advisor/tcp-advisor/remediate"
	"github.com/tcp-advisor/tcp-advisor/systemd"
)

// TestKernelStateOfRecreatedNamespace: a state recorded in a namespace
// that was deleted and made again under the same name — a pod recreated —
// belongs to a namespace that is gone, even when the new one gets the old
// inode back: the next command moves it aside with a state_moved_aside
// entry and starts afresh, instead of taking the reset values for someone
// else's change.
func TestKernelStateOfRecreatedNamespace(t *testing.T) {
	advisorBin, loadBin := binariesEntering(t)
	hostRange := netnstest.HostSysctl(t, "net.ipv4.ip_local_port_range")
	ns := exhaustionNS(t)
	ns.MustRun(t, loadBin, "timewait", "-addr", "127.0.0.1:9000", "-n", "900")
	state := filepath.Join(t.TempDir(), "state")
	if _, stderr, code := runExit(t, ns, advisorBin, "apply", "--yes", "--samples", "1", "--state-dir", state); code != 0 {
		t.Fatalf("apply: exit %d\n%s", code, stderr)
	}
	before := ns.Inode(t)
	for _, args := range [][]string{{"netns", "del", ns.Name}, {"netns", "add", ns.Name}} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	ns.MustRun(t, "ip", "link", "set", "lo", "up")
	t.Logf("namespace %s recreated: inode %d, then %d", ns.Name, before, ns.Inode(t))

	_, stderr, code := runExit(t, ns, advisorBin, "apply", "--yes", "--samples", "1", "--state-dir", state)
	if code != 0 || !strings.Contains(stderr, systemd.EventStateMovedAside.String()+": ") || !strings.Contains(stderr, "which no longer exists") {
		t.Errorf("apply in the recreated namespace: exit %d, want a state_moved_aside line:\n%s", code, stderr)
	}
	if aside, _ := filepath.Glob(filepath.Join(state, remediate.StateFile+"."+remediate.AsideGone+"-*")); len(aside) != 1 {
		t.Errorf("moved-aside files: %v", aside)
	}
	if b, err := os.ReadFile(filepath.Join(state, remediate.StateFile)); err == nil && strings.Contains(string(b), `"`+remediate.ActionRelease+`"`) {
		t.Errorf("the new state took the reset values for outside changes:\n%s", b)
	}
	if got := netnstest.HostSysctl(t, "net.ipv4.ip_local_port_range"); got != hostRange {
		t.Errorf("the host's range changed from %q to %q", hostRange, got)
	}
}
