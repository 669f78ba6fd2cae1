package connevents

import (
	"net/netip"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/advisor/observe"
)

// drains hands out prepared drains in order.
type drains []Drained

func (d *drains) Drain() (Drained, error) {
	next := (*d)[0]
	*d = (*d)[1:]
	return next, nil
}

func TestLedgerEventsSinceAndPerNamespace(t *testing.T) {
	dest := netip.MustParseAddrPort("10.0.0.2:8081")
	flow := func(opens, failures uint64) advisor.ConnFlow {
		return advisor.ConnFlow{PID: 7, Command: "nginx", Local: netip.MustParseAddr("10.0.0.1"), Remote: dest,
			ConnTotals: advisor.ConnTotals{Opens: opens, Failures: failures}}
	}
	src := &drains{
		{Flows: map[uint64][]advisor.ConnFlow{1: {flow(10, 0)}}, Totals: map[uint64]advisor.ConnTotals{1: {Opens: 10}}},
		{Flows: map[uint64][]advisor.ConnFlow{1: {flow(5, 20)}}, Totals: map[uint64]advisor.ConnTotals{1: {Opens: 5, Failures: 20}, 2: {Opens: 1}}, Overflow: 3},
		{Overflow: 3},
		{Overflow: 3},
	}
	t0 := time.Unix(1000, 0)
	now := t0
	l := &Ledger{src: src, now: func() time.Time { return now }}
	l.drains = []drain{{since: t0, at: t0}}

	now = t0.Add(1 * time.Second)
	first, _ := l.Events(1, t0)
	now = t0.Add(2 * time.Second)
	second, _ := l.Events(1, t0.Add(time.Second))
	now = t0.Add(3 * time.Second)
	all, _ := l.Events(1, t0)

	tests := []struct {
		name  string
		got   advisor.ConnEvents
		want  advisor.ConnTotals
		flows int
		over  uint64
		since time.Time
	}{
		{"first drain", first, advisor.ConnTotals{Opens: 10}, 1, 0, t0},
		{"only the second", second, advisor.ConnTotals{Opens: 5, Failures: 20}, 1, 3, t0.Add(time.Second)},
		{"both, flows merged", all, advisor.ConnTotals{Opens: 15, Failures: 20}, 1, 3, t0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got.Totals != tt.want || len(tt.got.Flows) != tt.flows || tt.got.Overflow != tt.over || !tt.got.Since.Equal(tt.since) {
				t.Errorf("got %+v, want totals %+v, %d flows, overflow %d, since %v", tt.got, tt.want, tt.flows, tt.over, tt.since)
			}
			if tt.flows == 1 && tt.got.Flows[0].ConnTotals != tt.want {
				t.Errorf("flow %+v, want %+v", tt.got.Flows[0], tt.want)
			}
		})
	}
	// The program's overflow count since it was attached, whatever the
	// window: the same for every namespace's events.
	if first.OverflowTotal != 0 || second.OverflowTotal != 3 || all.OverflowTotal != 3 {
		t.Errorf("overflow totals %d, %d, %d; want 0, 3, 3", first.OverflowTotal, second.OverflowTotal, all.OverflowTotal)
	}
	if other, _ := l.Events(2, t0); other.OverflowTotal != 3 {
		t.Errorf("namespace 2: overflow total %d, want 3", other.OverflowTotal)
	}
	totals, _ := l.NetnsTotals(t0)
	if totals[1] != (advisor.ConnTotals{Opens: 15, Failures: 20}) || totals[2] != (advisor.ConnTotals{Opens: 1}) {
		t.Errorf("namespace totals %+v", totals)
	}
}

func TestCgroupNamesByInode(t *testing.T) {
	root := t.TempDir()
	ino := func(rel string) uint64 {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Sys().(*syscall.Stat_t).Ino
	}
	nginx := ino("system.slice/nginx.service")
	worker := ino("system.slice/haproxy.service/worker")
	machine := ino("machine.slice/machine-web.scope/payload")
	user := ino("user.slice")
	c := NewCgroupNames(root)
	c.procRoot = t.TempDir() // no live process: the tree is walked
	for id, want := range map[uint64]string{nginx: "nginx.service", worker: "haproxy.service", machine: "machine-web.scope", user: "", 1 << 60: ""} {
		if got := c.Unit(id, 1, "nginx"); got != want {
			t.Errorf("cgroup %d: %q, want %q", id, got, want)
		}
	}
}

// TestLedgerServesObserve: the ledger is what observers and the
// all-namespaces pre-check read through observe.Events.
func TestLedgerServesObserve(t *testing.T) {
	src := &drains{{Totals: map[uint64]advisor.ConnTotals{9: {Opens: 4, Failures: 1}}}}
	ev := observe.Events{Source: NewLedger(src)}
	totals, ok := ev.NetnsTotals(time.Time{})
	if !ok || totals[9] != (advisor.ConnTotals{Opens: 4, Failures: 1}) {
		t.Errorf("totals %v, %v", totals, ok)
	}
	if _, ok := (observe.Events{Unavailable: "kernel events unavailable: x"}).NetnsTotals(time.Time{}); ok {
		t.Error("totals without a source")
	}
}

// TestLedgerSharesADrain: observers asking within minPull of the last
// drain share it rather than drain the maps again.
func TestLedgerSharesADrain(t *testing.T) {
	src := &drains{{Totals: map[uint64]advisor.ConnTotals{1: {Opens: 1}}}, {Totals: map[uint64]advisor.ConnTotals{1: {Opens: 2}}}}
	t0 := time.Unix(1000, 0)
	now := t0
	l := &Ledger{src: src, now: func() time.Time { return now }}
	l.drains = []drain{{since: t0, at: t0}}
	now = t0.Add(time.Second)
	a, _ := l.Events(1, t0)
	now = now.Add(minPull / 2)
	b, _ := l.Events(1, t0)
	if a.Totals.Opens != 1 || b.Totals.Opens != 1 || len(*src) != 1 {
		t.Errorf("first %+v, second %+v, drains left %d", a.Totals, b.Totals, len(*src))
	}
	now = now.Add(minPull)
	if c, _ := l.Events(1, t0); c.Totals.Opens != 3 {
		t.Errorf("after minPull: %+v", c.Totals)
	}
}
