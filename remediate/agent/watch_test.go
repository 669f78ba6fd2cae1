package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/advisor/event"
	"github.com/tcp-advisor/tcp-advisor/advisor/netns"
	"github.com/tcp-advisor/tcp-advisor/advisor/observe"
	"github.com/tcp-advisor/tcp-advisor/remediate"
	"github.com/tcp-advisor/tcp-advisor/systemd"
)

// fixtureProc writes a /proc with one process per namespace inode given:
// pid 1 a kernel thread in the first (so discovery takes it for the
// host's), pids 2, 3, ... ordinary processes in the others. Nothing in it
// can be entered: observing those namespaces fails.
func fixtureProc(t *testing.T, inodes ...uint64) string {
	t.Helper()
	proc := t.TempDir()
	for i, ino := range inodes {
		pid := i + 1
		flags := 0
		if i == 0 {
			flags = 0x00200000 // PF_KTHREAD
		}
		dir := filepath.Join(proc, fmt.Sprint(pid))
		if err := os.MkdirAll(filepath.Join(dir, "ns"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(fmt.Sprintf("net:[%d]", ino), filepath.Join(dir, "ns", "net")); err != nil {
			t.Fatal(err)
		}
		// Every field of the kernel's line, as procfs reads them all.
		stat := fmt.Sprintf("%d (proc%d) S 0 %d %d 0 -1 %d 10646 495840 0 130 4 7 628 239 20 0 1 0 32425 5246976 963 "+
			"18446744073709551615 94834319511552 94834320300957 140732893979216 0 0 0 65536 4 1132560123 1 0 0 17 0 0 0 0 0 0 "+
			"94834320534256 94834320582500 94835214188544 140732893981533 140732893981548 140732893981548 140732893982698 0", pid, pid, pid, pid, flags)
		if err := os.WriteFile(filepath.Join(dir, "stat"), []byte(stat), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return proc
}

// setupAll is setup for an agent watching every namespace of a fixture
// /proc holding the agent's own namespace, as the host's, and the others
// given.
func setupAll(t *testing.T, mode string, others ...uint64) (*Agent, *recordingLog, *recordingNotifier, string) {
	t.Helper()
	a, _, log, notify, root := setup(t, mode, "")
	a.cfg.AllNamespaces = true
	a.cfg.Paths = observe.Paths{Proc: fixtureProc(t, append([]uint64{a.own.session.Here.Inode}, others...)...), Sys: root, Netns: t.TempDir()}
	a.cfg.StateDir = a.own.session.stateDir
	a, err := reopen(t, a, root, notify)
	if err != nil {
		t.Fatal(err)
	}
	return a, log, notify, root
}

// TestAllNamespacesOwnWatchTicks: watching every namespace, the agent's own
// namespace is watched by its own watch, so what its ticks find shows in
// Health and the status line: a corrupt state file found at start is
// logged once, and once the file is fixed the status line and Health say
// the store works again.
func TestAllNamespacesOwnWatchTicks(t *testing.T) {
	a, log, notify, root := setupAll(t, "enforce")
	store := a.own.session.Applier.Store
	a, clock := restartWithState(t, a, root, notify, `{"version":1,"managed":{"net.ipv4.ip_local_port_range":{"orig`)
	for range 3 {
		a.Tick()
		clock.advance(2 * time.Second)
	}
	if len(a.watches) != 1 || a.watches[a.own.session.Here.Inode] != a.own {
		t.Errorf("own namespace watched by %+v, not the agent's own watch", a.watches)
	}
	if n := log.count(systemd.EventStateStore); n != 1 {
		t.Errorf("state store failure logged %d times, want once", n)
	}
	if got := rangeValue(t, root); got != "40000 40999" {
		t.Fatalf("applied %q with a corrupt state file", got)
	}

	os.Remove(store.Path())
	clock.advance(backoffBase)
	a.Tick()
	if rangeValue(t, root) == "40000 40999" {
		t.Fatal("not applied after the state file was fixed")
	}
	if h := a.Health(); !h.StateStoreOK || h.Ticks != 4 {
		t.Errorf("health after recovery: %+v", h)
	}
	if last := notify.calls[len(notify.calls)-1]; strings.Contains(last, "STATE STORE FAILING") {
		t.Errorf("status line after recovery: %q", last)
	}
	if n := log.count(systemd.EventStateStore); n != 2 {
		t.Errorf("state store events = %d, want the failure and the recovery", n)
	}
}

// TestAllNamespacesCorruptStateWatched: another namespace whose state file
// is torn is still watched, as the agent's own would be: the problem is
// logged once, shows in Health, and the file is left as it is.
func TestAllNamespacesCorruptStateWatched(t *testing.T) {
	const other = 4026539999
	a, log, _, _ := setupAll(t, "enforce", other)
	dir := remediate.NamespaceStateDir(a.cfg.StateDir, other)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	torn := `{"version":1,"managed":{"net.ipv4.tcp_tw_reuse":{"orig`
	file := filepath.Join(dir, remediate.StateFile)
	if err := os.WriteFile(file, []byte(torn), 0o640); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		a.Tick()
	}
	if a.watches[other] == nil {
		t.Error("the namespace with a corrupt state file is not watched")
	}
	for _, e := range log.events {
		if strings.Contains(e.Message, "not watched") {
			t.Errorf("logged %q", e.Message)
		}
	}
	if n := log.count(systemd.EventStateStore); n != 1 {
		t.Errorf("state store failure logged %d times, want once", n)
	}
	h := a.Health()
	if h.StateStoreOK || !strings.HasPrefix(h.StateStoreError, fmt.Sprintf("net:[%d]", other)) || !strings.Contains(h.StateStoreError, "corrupt") {
		t.Errorf("health = %+v", h)
	}
	if b, _ := os.ReadFile(file); string(b) != torn {
		t.Errorf("the corrupt file was overwritten: %q", b)
	}
}

// TestPodNamespacePlatformTerms: a change proposed in a pod's namespace
// says how the pod's spec keeps it, in the event and in the journal entry
// that names the namespace.
func TestPodNamespacePlatformTerms(t *testing.T) {
	a, _, log, _, _ := setup(t, "dry-run", "")
	pod := &netns.Namespace{Inode: 4026532999, Container: &netns.Container{Runtime: "containerd", ID: strings.Repeat("ab", 32), PodUID: "0b7c5e2a-1f3d-4a6b-9c8d-7e6f5a4b3c2d"}}
	a.own.in(pod, a.sinks)
	a.Tick()
	const spec = `securityContext.sysctls: [{name: net.ipv4.ip_local_port_range, value: "`
	var proposed int
	for _, em := range log.emitted {
		if c, ok := em.e.(event.ChangeRecommended); ok && c.Key == advisor.KeyPortRange {
			proposed++
			if em.ns != pod || !strings.Contains(c.Platform, spec) {
				t.Errorf("recommendation in %v with platform %q", em.ns, c.Platform)
			}
		}
	}
	if proposed != 1 {
		t.Fatalf("%d recommendations of the port range, want 1", proposed)
	}
	for _, e := range log.events {
		if e.Kind == systemd.EventRecommendation && e.Fields[systemd.FieldKey] == advisor.KeyPortRange {
			if p := e.Fields[systemd.FieldPlatform]; !strings.Contains(p, spec) || !strings.HasPrefix(e.Message, "[netns "+pod.String()+"] ") ||
				!strings.HasSuffix(e.Message, "; "+p) || e.Fields[systemd.FieldNetnsInode] != "4026532999" {
				t.Errorf("journal entry: %q, %v", e.Message, e.Fields)
			}
		}
	}
}
