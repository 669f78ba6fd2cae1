package agent

import (
	"cmp"
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/advisor/event"
	"github.com/tcp-advisor/tcp-advisor/advisor/metrics"
	"github.com/tcp-advisor/tcp-advisor/advisor/netns"
	"github.com/tcp-advisor/tcp-advisor/advisor/observe"
	"github.com/tcp-advisor/tcp-advisor/systemd"
)

// fakeObserver returns a snapshot built from the fake sysctl tree, with one
// destination at the given use.
type fakeObserver struct {
	root      string
	inUse     int
	closeWait int
	active    float64
	depths    []observe.Depth
	now       time.Time
	// failures, when set, give each snapshot connection events: the
	// next count of connect() calls that found no port, by nginx.
	failures []uint64
}

func (o *fakeObserver) Observe(d observe.Depth) (advisor.Snapshot, error) {
	o.depths = append(o.depths, d)
	o.now = o.now.Add(2 * time.Second)
	o.active += 600
	sc, err := observe.ReadSysctls(o.root)
	if err != nil {
		return advisor.Snapshot{}, err
	}
	key := advisor.DestKey{Local: netip.MustParseAddr("127.0.0.1"), Remote: netip.MustParseAddrPort("127.0.0.1:9000")}
	sum := &advisor.SocketSummary{Dumped: advisor.StatesOf(advisor.AllStates()...), PerDestination: map[advisor.DestKey]advisor.DestCount{
		// TIME_WAIT ages spread evenly over the 60 s: a steady load.
		key: {InUse: o.inUse, TimeWait: o.inUse, TimeWaitRecent: o.inUse / 12, TimeWaitExpiring: o.inUse / 12},
	}}
	sum.States[advisor.TimeWait] = o.inUse
	sum.Ephemeral[advisor.TimeWait] = o.inUse
	for i := range o.closeWait {
		sum.CloseWait = append(sum.CloseWait, advisor.DetailedSocket{
			ID:    advisor.SocketID{Local: netip.MustParseAddrPort("127.0.0.1:8443"), Remote: netip.AddrPortFrom(netip.MustParseAddr("10.9.9.9"), uint16(40000+i)), Cookie: uint64(i + 1)},
			State: advisor.CloseWait,
			Owner: &advisor.Owner{PID: 4242, Command: "api", Unit: "api.service"},
		})
	}
	sum.States[advisor.CloseWait] = o.closeWait
	snap := advisor.Snapshot{Time: o.now, Sysctls: sc, Sockets: sum,
		Counters: advisor.Counters{TimeWait: o.inUse, ActiveOpens: o.active}}
	if len(o.failures) > 0 {
		n := o.failures[0]
		o.failures = o.failures[1:]
		snap.Events = &advisor.ConnEvents{Since: o.now.Add(-2 * time.Second), Until: o.now,
			Totals: advisor.ConnTotals{Opens: 100 + n, Failures: n},
			Flows: []advisor.ConnFlow{{PID: 77, Command: "nginx", Unit: "nginx.service", Local: key.Local, Remote: key.Remote,
				ConnTotals: advisor.ConnTotals{Opens: 100 + n, Failures: n}}}}
	}
	return snap, nil
}

// recordingLog keeps the journal entries the agent's events make, and the
// events themselves with the namespace whose sink they went to.
type recordingLog struct {
	mu      sync.Mutex
	events  []systemd.Event
	emitted []emitted
}

// emitted is an event and the namespace of the sink it went to (nil: the
// agent's own, or none).
type emitted struct {
	ns *netns.Namespace
	e  event.Event
}

// sinks are the wiring's Sinks with l as the journal, and m (may be nil)
// as the metrics.
func (l *recordingLog) sinks(m *metrics.Metrics) Sinks {
	return func(ns *netns.Namespace) event.Sink {
		s := event.Fanout{event.SinkFunc(func(e event.Event) { l.emit(ns, e) })}
		if m != nil {
			s = append(s, m.SinkIn(ns))
		}
		return s
	}
}

// Emit makes l a sink of no namespace, as a session's.
func (l *recordingLog) Emit(e event.Event) { l.emit(nil, e) }

// emit keeps e, and journals it as the journal sink of ns does.
func (l *recordingLog) emit(ns *netns.Namespace, e event.Event) {
	l.mu.Lock()
	l.emitted = append(l.emitted, emitted{ns, e})
	l.mu.Unlock()
	systemd.JournalSink{Log: l, Netns: ns}.Emit(e)
}

func (l *recordingLog) Log(e systemd.Event) error {
	if err := e.Validate(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
	return nil
}

func (l *recordingLog) count(kind systemd.EventKind) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.events {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

type recordingNotifier struct {
	mu    sync.Mutex
	calls []string
}

func (n *recordingNotifier) add(s string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.calls = append(n.calls, s)
	return nil
}
func (n *recordingNotifier) Ready() error             { return n.add("READY") }
func (n *recordingNotifier) Status(line string) error { return n.add("STATUS=" + line) }
func (n *recordingNotifier) Watchdog() error          { return n.add("WATCHDOG") }
func (n *recordingNotifier) Reloading() error         { return n.add("RELOADING") }
func (n *recordingNotifier) Stopping() error          { return n.add("STOPPING") }

func (n *recordingNotifier) has(prefix string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := 0
	for _, s := range n.calls {
		if strings.HasPrefix(s, prefix) {
			c++
		}
	}
	return c
}

var sysTree = map[string]string{
	"net/ipv4/ip_local_port_range":        "40000\t40999",
	"net/ipv4/ip_local_reserved_ports":    "",
	"net/ipv4/ip_unprivileged_port_start": "1024",
	"net/ipv4/tcp_tw_reuse":               "0",
	"net/ipv4/tcp_fin_timeout":            "60",
	"net/ipv4/tcp_max_tw_buckets":         "131072",
	"net/ipv4/tcp_max_syn_backlog":        "4096",
	"net/ipv4/tcp_syncookies":             "1",
	// Timestamps off: tcp_tw_reuse cannot free the TIME_WAIT ports, so an
	// exhausted destination gets its range widened at once.
	"net/ipv4/tcp_timestamps": "0",
	"net/core/somaxconn":      "4096",
}

func setup(t *testing.T, mode string, policyDir string) (*Agent, *fakeObserver, *recordingLog, *recordingNotifier, string) {
	t.Helper()
	root := t.TempDir()
	for rel, v := range sysTree {
		p := filepath.Join(root, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(v+"\n"), 0o644)
	}
	session, err := OpenSession(observe.Paths{Proc: "/proc", Sys: root, Netns: t.TempDir()}, t.TempDir(), nil, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	obs := &fakeObserver{root: root, inUse: 950, now: time.Now()}
	log, notify := &recordingLog{}, &recordingNotifier{}
	var paths []string
	if policyDir != "" {
		paths = []string{policyDir}
	}
	a, err := New(Config{PolicyPaths: paths, Mode: advisor.Mode(mode), Interval: time.Hour}, obs, session, log.sinks(nil), notify)
	if err != nil {
		t.Fatal(err)
	}
	return a, obs, log, notify, root
}

func TestDryRunLogsOnceAndWritesNothing(t *testing.T) {
	a, _, log, notify, root := setup(t, "dry-run", "")
	for range 5 {
		a.Tick()
	}
	if n := log.count(systemd.EventRecommendation); n < 1 {
		t.Fatalf("no recommendation logged")
	}
	perKey := map[string]int{}
	for _, e := range log.events {
		if e.Kind == systemd.EventRecommendation && e.Fields[systemd.FieldKey] != "" {
			perKey[e.Fields[systemd.FieldRule]+" "+e.Fields[systemd.FieldKey]]++
		}
	}
	for k, n := range perKey {
		if n != 1 {
			t.Errorf("%s logged %d times over 5 ticks", k, n)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(root, "net/ipv4/ip_local_port_range")); strings.TrimSpace(string(b)) != "40000\t40999" {
		t.Errorf("dry-run wrote the range: %q", b)
	}
	if notify.has("READY") != 1 || notify.has("STATUS=dry-run") != 5 {
		t.Errorf("notifier calls: %v", notify.calls)
	}
}

func TestEnforceApplies(t *testing.T) {
	a, _, log, _, root := setup(t, "enforce", "")
	a.Tick()
	a.Tick()
	if log.count(systemd.EventChangeApplied) == 0 {
		t.Fatalf("nothing applied: %+v", log.events)
	}
	b, _ := os.ReadFile(filepath.Join(root, "net/ipv4/ip_local_port_range"))
	if strings.TrimSpace(string(b)) == "40000\t40999" {
		t.Error("range unchanged")
	}
	for _, e := range log.events {
		if e.Kind == systemd.EventChangeApplied && (e.Fields[systemd.FieldDestination] != "127.0.0.1:9000" || e.Fields[systemd.FieldOldValue] == "") {
			t.Errorf("applied event fields: %v", e.Fields)
		}
	}
}

func TestReloadKeepsLastGoodPolicy(t *testing.T) {
	dir := t.TempDir()
	good := "rule \"only-advice\" {\n  when = true\n  message = \"hello\"\n}\n"
	os.WriteFile(filepath.Join(dir, "a.hcl"), []byte(good), 0o644)
	a, _, log, notify, _ := setup(t, "dry-run", dir)
	before := a.set
	os.WriteFile(filepath.Join(dir, "b.hcl"), []byte("rule \"broken\" {\n  when = \n}\n"), 0o644)
	a.Reload()
	if a.set != before {
		t.Error("a broken policy replaced the good one")
	}
	var rejected []systemd.Event
	for _, e := range log.events {
		if e.Kind == systemd.EventPolicyRejected {
			rejected = append(rejected, e)
		}
	}
	if len(rejected) == 0 || !strings.HasSuffix(rejected[0].Fields[systemd.FieldPolicyFile], "b.hcl") || rejected[0].Fields[systemd.FieldPolicyLine] == "" {
		t.Errorf("rejection events: %+v", rejected)
	}
	if notify.has("RELOADING") != 1 || notify.has("READY") != 1 {
		t.Errorf("notify: %v", notify.calls)
	}
	os.Remove(filepath.Join(dir, "b.hcl"))
	a.Reload()
	if a.set == before {
		t.Error("a good reload did not replace the set")
	}
}

func TestRunStopsOnCancelAndPingsWatchdog(t *testing.T) {
	a, _, log, notify, _ := setup(t, "dry-run", "")
	a.cfg.Watchdog = 10 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- a.Run(ctx, make(chan struct{})) }()
	time.Sleep(100 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if notify.has("WATCHDOG") < 3 || notify.has("STOPPING") != 1 {
		t.Errorf("notify: %v", notify.calls)
	}
	if log.count(systemd.EventAgentStopped) != 1 {
		t.Error("no stop event")
	}
}

func TestDetailCadence(t *testing.T) {
	a, obs, _, _, _ := setup(t, "dry-run", "")
	a.cfg.DetailEvery = time.Hour
	a.Tick()
	a.Tick()
	a.Tick()
	want := []observe.Depth{observe.Detail, observe.Quiet, observe.Quiet}
	for i, d := range want {
		if obs.depths[i] != d {
			t.Errorf("tick %d depth %v, want %v", i, obs.depths[i], d)
		}
	}
}

// TestLeakEventAfterStuckDumps: the CLOSE_WAIT leak event needs the same
// sockets in every kept CLOSE_WAIT dump, and is logged once.
func TestLeakEventAfterStuckDumps(t *testing.T) {
	a, obs, log, _, _ := setup(t, "dry-run", "")
	obs.inUse = 10
	obs.closeWait = 150
	a.cfg.DetailEvery = time.Nanosecond
	a.Tick()
	if log.count(systemd.EventCloseWaitLeak) != 0 {
		t.Fatal("leak logged from a single dump")
	}
	for range 4 {
		a.Tick()
	}
	if n := log.count(systemd.EventCloseWaitLeak); n != 1 {
		t.Fatalf("leak logged %d times, want once", n)
	}
	for _, e := range log.events {
		if e.Kind == systemd.EventCloseWaitLeak && (e.Fields[systemd.FieldPID] != "4242" || e.Fields[systemd.FieldUnit] != "api.service") {
			t.Errorf("leak fields = %v", e.Fields)
		}
	}
}

// TestLeakNeedsDetailCadence: when every tick dumps the whole table (port
// pressure), CLOSE_WAIT sockets still count as stuck only across detail
// dumps, which come at the detail cadence.
func TestLeakNeedsDetailCadence(t *testing.T) {
	a, obs, log, _, _ := setup(t, "dry-run", "")
	obs.closeWait = 150
	a.cfg.DetailEvery = time.Hour
	for range 6 {
		a.Tick()
	}
	if n := log.count(systemd.EventCloseWaitLeak); n != 0 {
		t.Errorf("leak logged %d times from one detail dump and full ticks", n)
	}
}

// TestFailedReloadIsAnError: a reload that keeps the previous policy
// because the new one does not compile is logged at priority err, a good
// one at the event's own priority.
func TestFailedReloadIsAnError(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.hcl"), []byte("rule \"only-advice\" {\n  when = true\n  message = \"hello\"\n}\n"), 0o644)
	a, _, log, _, _ := setup(t, "dry-run", dir)
	reloads := func() []systemd.Event {
		var out []systemd.Event
		for _, e := range log.events {
			if e.Kind == systemd.EventReloaded {
				out = append(out, e)
			}
		}
		return out
	}
	os.WriteFile(filepath.Join(dir, "b.hcl"), []byte("rule \"broken\" {\n  when = \n}\n"), 0o644)
	a.Reload()
	os.Remove(filepath.Join(dir, "b.hcl"))
	a.Reload()
	got := reloads()
	if len(got) != 2 {
		t.Fatalf("reload events: %+v", got)
	}
	if got[0].Priority != systemd.PriorityErr || !strings.HasPrefix(got[0].Message, "reload failed, previous policy stays in force") {
		t.Errorf("failed reload logged as %v: %q", got[0].Priority, got[0].Message)
	}
	if got[1].Priority != systemd.PriorityDefault || !strings.HasPrefix(got[1].Message, "reload finished") {
		t.Errorf("good reload logged as %v: %q", got[1].Priority, got[1].Message)
	}
}

// unwritableTree is the fake sysctl tree with the port range's file made
// a directory: opening it for writing fails (EISDIR) whoever the test runs
// as, as opening a real sysctl fails without the privilege to write it.
func unwritableTree(t *testing.T, root string) {
	t.Helper()
	p := filepath.Join(root, "net/ipv4/ip_local_port_range")
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(p, 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestEnforceNeedsWritableSysctls: an agent in enforce mode that may not
// write the keys its rules set does not start; a reload into enforce mode
// there is refused, logged at priority err, and the dry-run policy stays.
func TestEnforceNeedsWritableSysctls(t *testing.T) {
	_, _, _, _, root := setup(t, "dry-run", "")
	unwritableTree(t, root)
	session, err := OpenSession(observe.Paths{Proc: "/proc", Sys: root, Netns: t.TempDir()}, t.TempDir(), nil, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	log := &recordingLog{}
	_, err = New(Config{Mode: "enforce", Interval: time.Hour}, &fakeObserver{root: root}, session, log.sinks(nil), &recordingNotifier{})
	if err == nil || !strings.Contains(err.Error(), "enforce mode needs to write") || !strings.Contains(err.Error(), "net.ipv4.ip_local_port_range") {
		t.Fatalf("New in enforce mode over an unwritable key: %v", err)
	}
	if n := log.count(systemd.EventChangeFailed); n != 0 {
		t.Errorf("%d change_failed events from an agent that did not start", n)
	}

	// Dry-run starts; a policy asking for enforce is refused on reload.
	dir := t.TempDir()
	a, err := New(Config{PolicyPaths: []string{dir}, Interval: time.Hour}, &fakeObserver{root: root}, session, log.sinks(nil), &recordingNotifier{})
	if err != nil {
		t.Fatalf("dry-run over an unwritable key: %v", err)
	}
	before := a.set
	os.WriteFile(filepath.Join(dir, "00-agent.hcl"), []byte("agent {\n  mode = \"enforce\"\n}\n"), 0o644)
	a.Reload()
	if a.set != before || a.Mode() != "dry-run" {
		t.Errorf("reload into enforce took effect: mode %s", a.Mode())
	}
	last := log.events[len(log.events)-1]
	if last.Kind != systemd.EventReloaded || last.Priority != systemd.PriorityErr || !strings.Contains(last.Message, "enforce mode needs to write") {
		t.Errorf("last event %+v, want a failed reload at err naming the write permission", last)
	}
	if n := log.count(systemd.EventPolicyRejected); n != 1 {
		t.Errorf("%d policy_rejected events for the refused reload, want 1 (at err)", n)
	}
}

func TestEnforceable(t *testing.T) {
	host := &netns.Namespace{Inode: 1, Host: true}
	named := &netns.Namespace{Inode: 2, Name: "lb-blue"}
	pod := &netns.Namespace{Inode: 3, Container: &netns.Container{Runtime: "containerd", ID: "3f2a91c0e7b4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0", PodUID: "6a1c2d3e-0000-4000-8000-000000000001"}}
	tests := []struct {
		ns    *netns.Namespace
		globs []string
		want  bool
	}{
		{nil, nil, true}, // the agent's own namespace when it watches no other
		{host, []string{"host"}, true},
		{named, []string{"host"}, false},
		{named, []string{"lb-*"}, true},
		{pod, []string{"3f2a91c0e7b4"}, true},
		{pod, []string{"6a1c2d3e-*"}, true},
		{pod, []string{"host", "lb-*"}, false},
	}
	for _, tt := range tests {
		if got := enforceable(tt.ns, tt.globs); got != tt.want {
			t.Errorf("enforceable(%v, %v) = %v", tt.ns, tt.globs, got)
		}
	}
}

// TestConnectFailuresStartAndStop: the journal says once when connect()
// calls start failing for lack of a port, naming the process, and once
// when a tick sees none fail; the status line counts the tick's failures.
func TestConnectFailuresStartAndStop(t *testing.T) {
	a, obs, log, notify, _ := setup(t, "dry-run", "")
	obs.failures = []uint64{0, 30, 50, 0, 0}
	var kinds []string
	for range 5 {
		before := len(log.events)
		a.Tick()
		for _, e := range log.events[before:] {
			if e.Kind == systemd.EventConnectFailures {
				kinds = append(kinds, cmp.Or(e.Priority, e.Kind.DefaultPriority()).String()+" "+e.Message)
				if e.Priority != systemd.PriorityNotice && (e.Fields[systemd.FieldConnectFailures] != "30" || e.Fields[systemd.FieldCommand] != "nginx" ||
					e.Fields[systemd.FieldUnit] != "nginx.service" || e.Fields[systemd.FieldDestination] != "127.0.0.1:9000") {
					t.Errorf("started event fields: %v", e.Fields)
				}
			}
		}
	}
	want := []string{
		"warning connect() failures started: 30 connect() calls found no local port in the last 2 s, 30 of them 127.0.0.1 -> 127.0.0.1:9000 by nginx (pid 77, unit nginx.service)",
		"notice connect() failures stopped: no connect() call failed for lack of a port in the last 2 s",
	}
	if !slices.Equal(kinds, want) {
		t.Errorf("connect_failures events:\n%q\nwant\n%q", kinds, want)
	}
	if n := notify.has("STATUS=dry-run"); n != 5 {
		t.Fatalf("status lines: %v", notify.calls)
	}
	var withFailures int
	for _, c := range notify.calls {
		if strings.Contains(c, "; 30 connect() calls failed for lack of a port") || strings.Contains(c, "; 50 connect() calls failed for lack of a port") {
			withFailures++
		}
	}
	if withFailures != 2 {
		t.Errorf("%d status lines count failures, want 2: %v", withFailures, notify.calls)
	}
}

// TestStatusLineSaysEventsUnavailable: where the kernel refused the events
// program, every status line says why.
func TestStatusLineSaysEventsUnavailable(t *testing.T) {
	a, _, _, notify, _ := setup(t, "dry-run", "")
	a.cfg.Paths.Events.Unavailable = "kernel events unavailable: no kernel BTF (/sys/kernel/btf/vmlinux)"
	a.Tick()
	if notify.has("STATUS=") != 1 || !strings.Contains(strings.Join(notify.calls, "\n"), "; kernel events unavailable: no kernel BTF (/sys/kernel/btf/vmlinux); tick ") {
		t.Errorf("status lines: %v", notify.calls)
	}
}
