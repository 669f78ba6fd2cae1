package netns_test

import (
	"sync"
	"testing"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/advisor/netns"
	"github.com/tcp-advisor/tcp-advisor/advisor/observe"
	"github.com/tcp-advisor/tcp-advisor/internal/netnstest"
	"github.com/tcp-advisor/tcp-advisor/internal/testbin"
)

// BenchmarkNamespacesIdle times an agent tick across 100 idle scratch
// namespaces (50 named, 50 held by a sleep in an unnamed one) besides
// whatever else the host has: one discovery, then a quiet observation of
// every namespace (sysctls and counters; no dump, since the pre-check rules
// exhaustion out). Run it as root, through `make bench`.
func BenchmarkNamespacesIdle(b *testing.B) {
	netnstest.RequireTools(b, "ip", "unshare", "nsenter")
	mine := map[uint64]bool{}
	for range 50 {
		mine[netnstest.New(b).Inode(b)] = true
	}
	for range 50 {
		mine[netnstest.Unnamed(b, "", "sleep", "600").Inode(b)] = true
	}
	b.Run("discover", func(b *testing.B) {
		d := netns.NewDiscoverer("/proc", "/run/netns")
		for b.Loop() {
			if _, err := d.Discover(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("tick", func(b *testing.B) {
		benchTick(b, mine, false)
	})
}

// BenchmarkNamespacesBusy times the same tick with 10 busy namespaces: each
// has 600 TIME_WAIT sockets in a 1000-port range, so the pre-check asks for
// the full dump in each.
func BenchmarkNamespacesBusy(b *testing.B) {
	netnstest.RequireTools(b, "ip", "unshare", "nsenter")
	load := testbin.Build(b, "internal/cmd/tcpload")
	mine := map[uint64]bool{}
	var wg sync.WaitGroup
	for range 10 {
		ns := netnstest.New(b)
		mine[ns.Inode(b)] = true
		ns.SetSysctl(b, advisor.KeyPortRange, "40000 40999")
		ns.SetSysctl(b, advisor.KeyTwReuse, "0")
		wg.Go(func() {
			if out, err := ns.Command(b.Context(), load, "timewait", "-addr", "127.0.0.1:9000", "-n", "600").CombinedOutput(); err != nil {
				b.Errorf("tcpload in %s: %v: %s", ns.Name, err, out)
			}
		})
	}
	wg.Wait()
	// TIME_WAIT lasts 60 s: the ticks must run well within that.
	b.Run("tick", func(b *testing.B) {
		benchTick(b, mine, true)
	})
}

// benchTick runs agent ticks: discover, then observe every namespace quietly
// with an observer kept per namespace across ticks (for its owner cache),
// pointed at the latest discovery's view of the namespace. It checks that
// the namespaces in mine dump exactly when busy says so.
func benchTick(b *testing.B, mine map[uint64]bool, busy bool) {
	d := netns.NewDiscoverer("/proc", "/run/netns")
	type watched struct {
		ns  *netns.Namespace
		obs *observe.Observer
	}
	watch := map[uint64]*watched{}
	var observed, dumped int
	for b.Loop() {
		nss, err := d.Discover()
		if err != nil {
			b.Fatal(err)
		}
		observed, dumped = 0, 0
		for _, n := range nss {
			w := watch[n.Inode]
			if w == nil {
				w = &watched{ns: new(netns.Namespace)}
				w.obs = observe.NewIn(w.ns, "/proc", "/proc/sys")
				watch[n.Inode] = w
			}
			*w.ns = n
			snap, err := w.obs.Observe(observe.Quiet)
			if err != nil {
				if mine[n.Inode] {
					b.Fatalf("observe %v: %v", n, err)
				}
				continue // another user's namespace that went away
			}
			observed++
			if !mine[n.Inode] {
				continue
			}
			if (snap.Sockets != nil) != busy {
				b.Fatalf("%v: dumped = %v, want %v (%d sockets hold ports of %d)", n, snap.Sockets != nil, busy,
					snap.SocketsHoldingPorts(), snap.Sysctls.UsablePorts())
			}
			if busy {
				dumped++
			}
		}
	}
	b.ReportMetric(float64(observed), "namespaces")
	b.ReportMetric(float64(dumped), "dumps")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/float64(max(observed, 1)), "µs/namespace")
}
