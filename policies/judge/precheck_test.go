package judge

import (
	"strings"
	"testing"
	"time"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/policies"
)

// quietSnapshot is a namespace's sysctls and counters, with no dump.
func quietSnapshot(inuse, tw int, listenOverflows float64) advisor.Snapshot {
	return advisor.Snapshot{
		Time: time.Unix(1000, 0),
		Sysctls: advisor.MustSysctls(map[string]string{
			advisor.KeyPortRange: "32768 60999", advisor.KeyReservedPorts: "", advisor.KeyMaxTwBuckets: "262144",
			advisor.KeyFinTimeout: "60", advisor.KeyTwReuse: "2", advisor.KeyTwReuseDelay: "1000",
			advisor.KeyTimestamps: "1", advisor.KeyUnprivilegedPortStart: "1024",
		}),
		Counters: advisor.Counters{TCPInUse: inuse, TimeWait: tw, ListenOverflows: listenOverflows},
	}
}

// maxTwBuckets sets snap's tcp_max_tw_buckets.
func maxTwBuckets(snap advisor.Snapshot, n string) advisor.Snapshot {
	snap.Sysctls = snap.Sysctls.With(advisor.KeyMaxTwBuckets, n)
	return snap
}

// initialNamespace makes snap the initial namespace's, whose sockstat
// alloc counts every TCP socket of the host.
func initialNamespace(snap advisor.Snapshot, alloc int) advisor.Snapshot {
	snap.Sysctls = snap.Sysctls.With(advisor.KeyMaxOrphans, "65536")
	snap.Counters.Alloc = alloc
	return snap
}

func TestRulesAsk(t *testing.T) {
	defaults, diags := policies.Load()
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	withAlways, diags := policies.Load("testdata/always.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	for _, tc := range []struct {
		name string
		set  *policies.Set
		snap advisor.Snapshot
		want string // a part of the answer; "" for none
	}{
		{"no socket", defaults, quietSnapshot(0, 0, 0), ""},
		{"12 sockets", defaults, quietSnapshot(10, 2, 0), ""},
		{"150 hashed sockets could be CLOSE_WAIT", defaults, quietSnapshot(150, 0, 0), "rule close-wait-leak asks"},
		// Orphans count only where they could do harm: 1000 of 262144
		// timewait buckets on a 28,232-port range cannot.
		{"1000 harmless timewait sockets", defaults, quietSnapshot(5, 1000, 0), ""},
		{"1000 timewait sockets near tcp_max_tw_buckets could be orphaned FIN_WAIT2", defaults, maxTwBuckets(quietSnapshot(5, 1000, 0), "1200"), "rule fin-wait2-orphans asks"},
		{"a rule that fires on counters alone does not ask", withAlways, quietSnapshot(10, 2, 0), ""},
		{"other namespaces' sockets in the initial namespace's alloc are no CLOSE_WAIT", defaults, initialNamespace(quietSnapshot(1, 0, 0), 235), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := RulesAsk(func() *policies.Set { return tc.set })(tc.snap)
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Errorf("asked %q, want %q", got, tc.want)
			}
		})
	}
}

// BenchmarkRulesAsk times the question a quiet namespace with sockets
// costs at each detail tick: two evaluations of the default rules.
func BenchmarkRulesAsk(b *testing.B) {
	set, diags := policies.Load()
	if diags.HasErrors() {
		b.Fatal(diags)
	}
	ask := RulesAsk(func() *policies.Set { return set })
	snap := quietSnapshot(12, 3, 0)
	for b.Loop() {
		if got := ask(snap); got != "" {
			b.Fatalf("asked %q", got)
		}
	}
}
