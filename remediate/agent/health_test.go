package agent

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tcp-advisor/tcp-advisor/advisor/observe"
	"github.com/tcp-advisor/tcp-advisor/internal/netnstest"
	"github.com/tcp-advisor/tcp-advisor/remediate"
	"github.com/tcp-advisor/tcp-advisor/systemd"

	"github.com/tcp-advisor/tcp-advisor/advisor"
)

// fakeClock is a monotonic clock the test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }
func rangeValue(t *testing.T, root string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "net/ipv4/ip_local_port_range"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(strings.Fields(string(b)), " ")
}

// TestAgentCorruptStateObservesAndAppliesNothing: an agent whose state file
// is torn starts, keeps observing, applies nothing, says so once (journal
// event, STATUS, Health) and resumes once the file is fixed.
func TestAgentCorruptStateObservesAndAppliesNothing(t *testing.T) {
	a, _, log, notify, root := setup(t, "enforce", "")
	store := a.own.session.Applier.Store
	torn := `{"version":1,"managed":{"net.ipv4.tcp_tw_reuse":{"original":"0","last_written":"0"},"net.ipv4.ip_local_port_range":{"orig`
	if err := os.WriteFile(store.Path(), []byte(torn), 0o640); err != nil {
		t.Fatal(err)
	}
	a, err := reopen(t, a, root, notify)
	if err != nil {
		t.Fatalf("an agent with a corrupt state file did not start: %v", err)
	}
	clock := &fakeClock{t: time.Now()}
	a.now = clock.now
	for range 4 {
		a.Tick()
		clock.advance(2 * time.Second)
	}
	if got := rangeValue(t, root); got != "40000 40999" {
		t.Fatalf("applied %q with a corrupt state file", got)
	}
	if n := log.count(systemd.EventStateStore); n != 1 {
		t.Errorf("state store event logged %d times, want once", n)
	}
	if log.count(systemd.EventChangeApplied) != 0 {
		t.Error("change applied")
	}
	h := a.Health()
	if h.StateStoreOK || !strings.Contains(h.StateStoreError, "corrupt") || h.Ticks != 4 {
		t.Errorf("health = %+v", h)
	}
	if notify.has("STATUS=enforce") != 4 || !strings.Contains(notify.calls[len(notify.calls)-1], "STATE STORE FAILING") {
		t.Errorf("status lines: %v", notify.calls)
	}
	if b, _ := os.ReadFile(store.Path()); string(b) != torn {
		t.Errorf("the corrupt file was overwritten: %q", b)
	}

	// The operator fixes it (here: removes it); after the back-off the
	// agent reads it again and applies.
	os.Remove(store.Path())
	clock.advance(backoffBase)
	a.Tick()
	if log.count(systemd.EventChangeApplied) == 0 || rangeValue(t, root) == "40000 40999" {
		t.Fatalf("not applied after the state file was fixed: %+v", log.events)
	}
	if h := a.Health(); !h.StateStoreOK {
		t.Errorf("health after recovery: %+v", h)
	}
	if n := log.count(systemd.EventStateStore); n != 2 {
		t.Errorf("state store events = %d, want the failure and the recovery", n)
	}
}

// TestAgentNewerStateVersionLeftAlone: a state file from a newer
// tcp-advisor is neither applied over nor rewritten.
func TestAgentNewerStateVersionLeftAlone(t *testing.T) {
	a, _, _, notify, root := setup(t, "enforce", "")
	newer := `{"version":2,"managed":{}}`
	os.WriteFile(a.own.session.Applier.Store.Path(), []byte(newer), 0o640)
	a, err := reopen(t, a, root, notify)
	if err != nil {
		t.Fatal(err)
	}
	a.Tick()
	if rangeValue(t, root) != "40000 40999" || !strings.Contains(a.Health().StateStoreError, "version 2") {
		t.Errorf("range %q, health %+v", rangeValue(t, root), a.Health())
	}
	if b, _ := os.ReadFile(a.own.session.Applier.Store.Path()); string(b) != newer {
		t.Errorf("state rewritten: %s", b)
	}
}

// TestKernelAgentBacksOffFailingKey: the port range file is read-only
// (a read-only bind mount, in the test's private mount namespace). The
// write fails with EROFS; the failure is logged once, with key and errno;
// the agent keeps ticking, leaves the key alone for the back-off, and
// applies once the key is writable again and the back-off has passed.
func TestKernelAgentBacksOffFailingKey(t *testing.T) {
	if !netnstest.Inside(t) {
		return
	}
	a, _, log, notify, root := setup(t, "enforce", "")
	clock := &fakeClock{t: time.Now()}
	a.now = clock.now
	// Both keys the default policies change here fail: with
	// tcp_tw_reuse taken, they would no longer ask for a wider range.
	files := []string{filepath.Join(root, "net/ipv4/ip_local_port_range"), filepath.Join(root, "net/ipv4/tcp_tw_reuse")}
	for _, file := range files {
		if err := unix.Mount(file, file, "", unix.MS_BIND, ""); err != nil {
			t.Fatal(err)
		}
		if err := unix.Mount("", file, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, ""); err != nil {
			t.Fatal(err)
		}
	}
	for range 5 {
		a.Tick()
		clock.advance(5 * time.Second)
	}
	var failed []systemd.Event
	for _, e := range log.events {
		if e.Kind == systemd.EventChangeFailed && e.Fields[systemd.FieldKey] == advisor.KeyPortRange {
			failed = append(failed, e)
		}
	}
	if len(failed) != 1 {
		t.Fatalf("%d change_failed events over 5 ticks, want 1: %+v", len(failed), failed)
	}
	if f := failed[0].Fields; f[systemd.FieldKey] != advisor.KeyPortRange || f[systemd.FieldErrno] != "EROFS" ||
		!strings.Contains(failed[0].Message, "EROFS") || !strings.Contains(failed[0].Message, "leaving "+advisor.KeyPortRange+" alone for 1m0s") {
		t.Errorf("failure event = %+v", failed[0])
	}
	if h := a.Health(); !slices.Contains(h.BackingOff, advisor.KeyPortRange) || h.Ticks != 5 {
		t.Errorf("health = %+v", h)
	}
	if last := notify.calls[len(notify.calls)-1]; !strings.Contains(last, "backing off "+advisor.KeyPortRange) {
		t.Errorf("status = %q", last)
	}
	st, err := a.own.session.Applier.Store.Load()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st.Managed[advisor.KeyPortRange]; ok {
		t.Errorf("a failed write left a record: %+v", st.Managed)
	}

	for _, file := range files {
		if err := unix.Unmount(file, 0); err != nil {
			t.Fatal(err)
		}
	}
	rangeApplied := func() int {
		n := 0
		for _, e := range log.events {
			if e.Kind == systemd.EventChangeApplied && e.Fields[systemd.FieldKey] == advisor.KeyPortRange {
				n++
			}
		}
		return n
	}
	a.Tick() // still backing off
	if rangeApplied() != 0 {
		t.Fatal("applied during the back-off")
	}
	clock.advance(backoffBase)
	a.Tick()
	if rangeApplied() != 1 || rangeValue(t, root) == "40000 40999" {
		t.Fatalf("not applied after the back-off: %+v", log.events)
	}
	if h := a.Health(); len(h.BackingOff) != 0 {
		t.Errorf("still backing off after success: %+v", h)
	}
}

func TestBackoffDoublesToMax(t *testing.T) {
	var b backoff
	t0 := time.Unix(0, 0)
	var got []time.Duration
	for range 9 {
		got = append(got, b.fail(t0))
	}
	want := []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 16 * time.Minute, 32 * time.Minute, time.Hour, time.Hour, time.Hour}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("back-offs %v, want %v", got, want)
		}
	}
}

// TestInProcessTimesAreMonotonic: the times the agent compares within one
// run (a change's time for its cooldown, snapshot times for rates) carry
// Go's monotonic clock reading, so a wall clock jump (NTP step, operator)
// neither ends a cooldown early nor distorts a rate. Only times read back
// from the state file after a restart are wall clock.
func TestInProcessTimesAreMonotonic(t *testing.T) {
	a, _, _, _, _ := setup(t, "enforce", "")
	a.Tick()
	if len(a.own.session.State.Managed) == 0 {
		t.Fatal("nothing applied")
	}
	for k, m := range a.own.session.State.Managed {
		if !strings.Contains(m.LastChange.String(), " m=") {
			t.Errorf("%s last change %v carries no monotonic reading", k, m.LastChange)
		}
	}
	if !strings.Contains(a.now().String(), " m=") {
		t.Error("the agent's clock carries no monotonic reading")
	}
}

// restartWithState writes state to a's state file and starts a new agent
// on it, as a restart would, with a clock the test moves.
func restartWithState(t *testing.T, a *Agent, root string, notify Notifier, state string) (*Agent, *fakeClock) {
	t.Helper()
	if err := os.WriteFile(a.own.session.Applier.Store.Path(), []byte(state), 0o640); err != nil {
		t.Fatal(err)
	}
	a, err := reopen(t, a, root, notify)
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: time.Now()}
	a.now = clock.now
	return a, clock
}

// reopen starts a new agent on a's sysctl tree and state directory, with
// its sinks, as a restart would.
func reopen(t *testing.T, a *Agent, root string, notify Notifier) (*Agent, error) {
	t.Helper()
	session, err := OpenSession(observe.Paths{Proc: "/proc", Sys: root, Netns: t.TempDir()}, a.own.session.stateDir, nil, "", nil)
	if err != nil {
		return nil, err
	}
	return New(a.cfg, a.own.obs, session, a.sinks, notify)
}

// TestAgentReloadedStateChecksNamespace: a state file read again after a
// problem is checked as at start: one of another network namespace is
// refused and left as it is, one that records no namespace is adopted.
func TestAgentReloadedStateChecksNamespace(t *testing.T) {
	tests := []struct {
		name, fixed    string
		alive, refused bool
	}{
		{"another namespace", `{"version":1,"namespace":{"inode":1},"managed":{}}`, true, true},
		// Gone: moved aside, and the agent starts afresh.
		{"a namespace that is gone", `{"version":1,"namespace":{"inode":1},"managed":{}}`, false, false},
		{"no namespace", `{"version":1,"managed":{}}`, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, _, log, notify, root := setup(t, "enforce", "")
			store := a.own.session.Applier.Store
			a, clock := restartWithState(t, a, root, notify, `{"version":1,"managed":{"net.ipv4.tcp_tw_reuse":{"orig`)
			a.own.session.alive = func(advisor.Netns) (bool, error) { return tt.alive, nil }
			a.Tick()
			if err := os.WriteFile(store.Path(), []byte(tt.fixed), 0o640); err != nil {
				t.Fatal(err)
			}
			clock.advance(backoffBase)
			a.Tick()
			b, _ := os.ReadFile(store.Path())
			if tt.refused {
				if got := rangeValue(t, root); got != "40000 40999" {
					t.Errorf("applied %q over a state of another namespace", got)
				}
				if string(b) != tt.fixed {
					t.Errorf("the state of another namespace was overwritten: %s", b)
				}
				if h := a.Health(); h.StateStoreOK || !strings.Contains(h.StateStoreError, "records sysctls of network namespace") {
					t.Errorf("health = %+v", h)
				}
				return
			}
			if aside, _ := filepath.Glob(store.Path() + ".gone-*"); strings.Contains(tt.fixed, "namespace") != (len(aside) == 1 && log.count(systemd.EventStateMovedAside) == 1) {
				t.Errorf("moved aside: %v, %d state_moved_aside events", aside, log.count(systemd.EventStateMovedAside))
			}
			st, err := store.Load()
			if err != nil || st.Namespace == nil || st.Namespace.Inode != a.own.session.Here.Inode || len(st.Managed) == 0 {
				t.Errorf("saved state %s (%v), want the changes recorded in namespace %v", b, err, a.own.session.Here)
			}
		})
	}
}

// TestStoreFailureCountsOncePerTick: two groups kept back by one failing
// state store in one tick are one failure: logged once, naming both
// groups' keys, with the first back-off (a minute), not a doubled one.
func TestStoreFailureCountsOncePerTick(t *testing.T) {
	a, _, log, _, _ := setup(t, "enforce", "")
	clock := &fakeClock{t: time.Now()}
	a.now = clock.now
	storeErr := &remediate.StoreError{Op: "write", Path: "/var/lib/tcp-advisor/state.json", Err: unix.ENOSPC}
	failed := []remediate.Failure{
		{Changes: []remediate.Change{{Key: advisor.KeyPortRange, To: "40000 45000"}}, Err: storeErr},
		{Changes: []remediate.Change{{Key: advisor.KeyTwReuse, To: "1"}}, Err: storeErr},
	}
	if rest := a.sortFailures(a.own, nil, failed); len(rest) != 0 {
		t.Errorf("store failures returned to be logged again: %+v", rest)
	}
	var events []systemd.Event
	for _, e := range log.events {
		if e.Kind == systemd.EventStateStore {
			events = append(events, e)
		}
	}
	if len(events) != 1 || !strings.Contains(events[0].Message, advisor.KeyPortRange) || !strings.Contains(events[0].Message, advisor.KeyTwReuse) {
		t.Errorf("state_store events %+v, want one naming both keys", events)
	}
	f := a.own.health.store
	if f == nil || f.failures != 1 || f.until != clock.t.Add(backoffBase) {
		t.Errorf("store back-off %+v, want one failure until now+%s", f, backoffBase)
	}
}
