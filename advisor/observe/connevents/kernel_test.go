package connevents

import (
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/internal/netnstest"
	"github.com/tcp-advisor/tcp-advisor/internal/testbin"
)

// nsInode is the inode of a scratch namespace's file under /run/netns.
func nsInode(t *testing.T, ns *netnstest.NS) uint64 {
	t.Helper()
	fi, err := os.Stat("/run/netns/" + ns.Name)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// openTracer opens the tracer, failing (never skipping) where the kernel
// should allow it: every kernel test here runs as root.
func openTracer(t *testing.T) *Tracer {
	t.Helper()
	netnstest.Require(t)
	tr, err := Open()
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// client holds two connections to its own listener on 127.0.0.1:9000,
// which take the namespace's two ports, then calls connect() 5 times
// more, each failing with EADDRNOTAVAIL, and closes the two first.
const client = `
import errno, socket
srv = socket.socket()
srv.bind(("127.0.0.1", 9000))
srv.listen(16)
held = [socket.create_connection(("127.0.0.1", 9000)) for _ in range(2)]
failed = 0
for _ in range(5):
    s = socket.socket()
    try:
        s.connect(("127.0.0.1", 9000))
    except OSError as e:
        failed += e.errno == errno.EADDRNOTAVAIL
    s.close()
for c in held:
    c.close()
print(failed)
`

// TestKernelCountsOpensFailuresCloses: in a namespace whose range has 2
// ports, a client opens 2 connections, makes 5 connect() calls that find
// no port, and closes the 2 first. The ledger counts in that namespace
// exactly 7 opens, 5 failures and 2 active closes, by the client's command,
// towards the destination; another namespace sees none.
func TestKernelCountsOpensFailuresCloses(t *testing.T) {
	tr := openTracer(t)
	ledger := NewLedger(tr)
	start := time.Now()
	python := testbin.Tool(t, "python3", "python3")
	ns := netnstest.New(t)
	other := netnstest.New(t)
	ns.SetSysctl(t, "net.ipv4.ip_local_port_range", "40000 40001")
	if out := strings.TrimSpace(ns.MustRun(t, python, "-c", client)); out != "5" {
		t.Fatalf("the client saw %s EADDRNOTAVAIL, want 5", out)
	}
	const ok, failed = 2, 5

	ev, err := ledger.Events(nsInode(t, ns), start)
	if err != nil {
		t.Fatal(err)
	}
	if got := ev.Totals.Failures; got != uint64(failed) {
		t.Errorf("failures %d, the client saw %d EADDRNOTAVAIL", got, failed)
	}
	// Every attempt sets SYN_SENT first; the ones that got a port also
	// reach the server, whose accepted side never closes first.
	if got := ev.Totals.Opens; got != uint64(ok+failed) {
		t.Errorf("opens %d, want %d attempts", got, ok+failed)
	}
	if got := ev.Totals.ActiveCloses; got != uint64(ok) {
		t.Errorf("active closes %d, want %d", got, ok)
	}
	dest := advisor.DestKey{Local: netip.MustParseAddr("127.0.0.1"), Remote: netip.MustParseAddrPort("127.0.0.1:9000")}
	var byClient advisor.ConnTotals
	for _, f := range ev.Flows {
		if k, isDest := f.Dest(); isDest && k == dest && f.Command == "python3" {
			byClient.Add(f.ConnTotals)
		}
	}
	if byClient.Failures != uint64(failed) || byClient.Opens != uint64(ok+failed) {
		t.Errorf("python3 towards %v: %+v; flows %+v", dest, byClient, ev.Flows)
	}
	quiet, err := ledger.Events(nsInode(t, other), start)
	if err != nil {
		t.Fatal(err)
	}
	if quiet.Totals != (advisor.ConnTotals{}) || len(quiet.Flows) != 0 {
		t.Errorf("an idle namespace has events: %+v", quiet)
	}
	totals, err := ledger.NetnsTotals(start)
	if err != nil {
		t.Fatal(err)
	}
	if totals[nsInode(t, ns)] != ev.Totals {
		t.Errorf("namespace totals %+v, events %+v", totals[nsInode(t, ns)], ev.Totals)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}
