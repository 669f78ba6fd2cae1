package agent

import (
	"errors"
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
)

// emittedOnce returns the one event of type T l kept, and the namespace of
// the sink it went to; it fails the test unless there is exactly one.
func emittedOnce[T event.Event](t *testing.T, l *recordingLog) (T, *netns.Namespace) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var got []emitted
	for _, em := range l.emitted {
		if _, ok := em.e.(T); ok {
			got = append(got, em)
		}
	}
	if len(got) != 1 {
		var zero T
		t.Fatalf("%d %T events emitted, want 1: %+v", len(got), zero, got)
	}
	return got[0].e.(T), got[0].ns
}

// writePolicy writes a policy file into a new directory and returns it.
func writePolicy(t *testing.T, text string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "00-test.hcl"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestPolicyWarningEvent: a warning of a policy set that compiles is one
// event with its summary and detail.
func TestPolicyWarningEvent(t *testing.T) {
	_, _, log, _, _ := setup(t, "dry-run", writePolicy(t, "rule \"no_such_rule\" {\n  enabled = false\n}\n"))
	w, _ := emittedOnce[event.PolicyWarning](t, log)
	if w.Summary != "Rule disables nothing" || !strings.Contains(w.Detail, `"no_such_rule"`) {
		t.Errorf("warning %+v", w)
	}
}

// TestPersistNotWrittenEvent: a policy asking for a drop-in where
// /etc/sysctl.d does not configure the namespace says why, once per load.
func TestPersistNotWrittenEvent(t *testing.T) {
	a, _, log, _, _ := setup(t, "dry-run", "")
	a.own.session.bootConfigured = false
	const dropIn = "/etc/sysctl.d/90-tcp-advisor.conf" // not written: see bootConfigured
	a.cfg.PolicyPaths = []string{writePolicy(t, fmt.Sprintf("agent {\n  persist = true\n  persist_path = %q\n}\n", dropIn))}
	a.Reload()
	n, _ := emittedOnce[event.PersistNotWritten](t, log)
	if !strings.HasPrefix(n.Why, dropIn+" is not written") {
		t.Errorf("note %q", n.Why)
	}
}

// TestEnforceRefusedEvent: at start the refusal is the agent's error and
// no event; on a reload it is one event, in enforce mode, saying which key
// may not be written.
func TestEnforceRefusedEvent(t *testing.T) {
	_, _, _, _, root := setup(t, "dry-run", "")
	unwritableTree(t, root)
	log := &recordingLog{}
	session := openTestSession(t, root)
	_, err := New(Config{Mode: advisor.ModeEnforce, Interval: time.Hour}, &fakeObserver{root: root}, session, log.sinks(nil), &recordingNotifier{})
	var refused event.EnforceRefused
	if !errors.As(err, &refused) || refused.Mode != advisor.ModeEnforce {
		t.Fatalf("New in enforce mode over an unwritable key: %v", err)
	}
	if hasType[event.EnforceRefused](log) {
		t.Error("an agent that did not start emitted its refusal")
	}
	a, err := New(Config{Interval: time.Hour}, &fakeObserver{root: root}, session, log.sinks(nil), &recordingNotifier{})
	if err != nil {
		t.Fatal(err)
	}
	a.cfg.PolicyPaths = []string{writePolicy(t, "agent {\n  mode = \"enforce\"\n}\n")}
	a.Reload()
	e, ns := emittedOnce[event.EnforceRefused](t, log)
	if ns != nil || e.Mode != advisor.ModeEnforce || !strings.Contains(e.Err.Error(), advisor.KeyPortRange) {
		t.Errorf("refusal %+v in %v", e, ns)
	}
}

// hasType reports whether l kept an event of type T.
func hasType[T event.Event](l *recordingLog) bool {
	for _, em := range l.emitted {
		if _, ok := em.e.(T); ok {
			return true
		}
	}
	return false
}

// testPaths are the paths of a test: the sysctl tree at root.
func testPaths(t *testing.T, root string) observe.Paths {
	return observe.Paths{Proc: "/proc", Sys: root, Netns: t.TempDir()}
}

// openTestSession opens a session on the sysctl tree at root with a state
// directory of its own.
func openTestSession(t *testing.T, root string) *Session {
	t.Helper()
	s, err := OpenSession(testPaths(t, root), t.TempDir(), nil, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestManagedKeysUncheckedEvent: a managed key whose live value cannot be
// read is one event per tick, in the namespace's sink, with the error.
func TestManagedKeysUncheckedEvent(t *testing.T) {
	a, _, log, _, _ := setup(t, "dry-run", "")
	st := a.own.session.State
	st.Managed[advisor.KeyMaxOrphans] = &remediate.ManagedKey{Original: "4096", LastWritten: "8192"}
	if err := a.own.session.Applier.Store.Save(st); err != nil {
		t.Fatal(err)
	}
	a.Tick()
	e, ns := emittedOnce[event.ManagedKeysUnchecked](t, log)
	if ns != nil || !strings.Contains(e.Err.Error(), "tcp_max_orphans") {
		t.Errorf("event %+v in %v", e, ns)
	}
}

// TestNamespaceEvents: watching every namespace, one that cannot be
// watched (its state is another live namespace's) and a discovery that
// fails are each one event of no namespace.
func TestNamespaceEvents(t *testing.T) {
	const other = 4026539999
	a, log, _, _ := setupAll(t, "dry-run", other)
	dir := remediate.NamespaceStateDir(a.cfg.StateDir, other)
	// The state of the agent's own namespace, which is alive (told by
	// its inode, as fixture namespaces are).
	own := advisor.Netns{Inode: a.own.session.Here.Inode}
	if err := remediate.NewStore(dir).Save(&remediate.State{Namespace: &own, Managed: map[string]*remediate.ManagedKey{}}); err != nil {
		t.Fatal(err)
	}
	a.Tick()
	nw, ns := emittedOnce[event.NamespaceNotWatched](t, log)
	if ns != nil || !strings.HasPrefix(nw.Netns, fmt.Sprintf("net:[%d] ", other)) || nw.Err == nil {
		t.Errorf("event %+v in %v", nw, ns)
	}

	a.cfg.Paths.Proc = filepath.Join(t.TempDir(), "no-proc")
	a.discoverer = netns.NewDiscoverer(a.cfg.Paths.Proc, a.cfg.Paths.Netns)
	a.Tick()
	df, ns := emittedOnce[event.DiscoveryFailed](t, log)
	if ns != nil || df.Err == nil {
		t.Errorf("event %+v in %v", df, ns)
	}
}

// TestFlightRecorderEvents: a flight recorder that cannot keep frames says
// so once, and once again when it can; a recording it cannot write is one
// event naming what it was for.
func TestFlightRecorderEvents(t *testing.T) {
	a, obs, log, _, _ := setup(t, "dry-run", "")
	a.cfg.FlightRecorder, a.cfg.FlightRecorderBytes = time.Minute, 1<<20
	a.fly(a.own)
	obs.inUse = 100
	a.Tick()
	dir := a.own.flight.Dir
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	// A file where the recorder's directory was: nothing can go in it.
	if err := os.WriteFile(dir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		a.Tick()
	}
	f, _ := emittedOnce[event.FlightRecorderFailing](t, log)
	if f.Dir != dir || f.Err == nil {
		t.Errorf("failing %+v", f)
	}
	if hasType[event.FlightRecorderRecovered](log) {
		t.Error("recovered while the directory is a file")
	}
	if got := a.dumpFlight(a.own, "critical finding: probe", a.now()); got != "" {
		t.Errorf("recording %q written into a file", got)
	}
	r, _ := emittedOnce[event.RecordingFailed](t, log)
	if r.For != "critical finding: probe" || r.Dir != dir || r.Err == nil {
		t.Errorf("recording failed %+v", r)
	}

	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	a.Tick()
	a.Tick()
	if rec, _ := emittedOnce[event.FlightRecorderRecovered](t, log); rec.Dir != dir {
		t.Errorf("recovered %+v", rec)
	}
}

// TestStateSalvagedEvent: salvaging a corrupt state file is one event
// with the file's problem, its cause and where it went.
func TestStateSalvagedEvent(t *testing.T) {
	_, _, _, _, root := setup(t, "dry-run", "")
	dir := t.TempDir()
	torn := `{"version":1,"managed":{"net.ipv4.tcp_tw_reuse":{"orig`
	if err := os.WriteFile(filepath.Join(dir, remediate.StateFile), []byte(torn), 0o640); err != nil {
		t.Fatal(err)
	}
	log := &recordingLog{}
	s, err := OpenSession(testPaths(t, root), dir, nil, "", log)
	if err != nil {
		t.Fatal(err)
	}
	aside, err := s.Salvage()
	if err != nil || aside == "" {
		t.Fatalf("Salvage = %q, %v", aside, err)
	}
	e, _ := emittedOnce[event.StateSalvaged](t, log)
	if !strings.Contains(e.Problem, "is corrupt") || e.Err == nil || e.Aside != aside {
		t.Errorf("event %+v, moved aside to %s", e, aside)
	}
}
