package connevents

import (
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/internal/netnstest"
	"github.com/tcp-advisor/tcp-advisor/internal/testbin"
)

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

// client holds two connections to its own listener on HOST port 9000,
// which take the namespace's two ports, then calls connect() 5 times
// more, 5 ms apart (none an immediate retry), each failing with
// EADDRNOTAVAIL; the listener accepts one and
// closes it first, then the client closes both.
const client = `
import errno, socket, sys, time
host = sys.argv[1]
family = socket.AF_INET6 if ":" in host else socket.AF_INET
srv = socket.socket(family)
srv.bind((host, 9000))
srv.listen(16)
held = []
for _ in range(2):
    c = socket.socket(family)
    c.connect((host, 9000))
    held.append(c)
failed = 0
for _ in range(5):
    s = socket.socket(family)
    try:
        s.connect((host, 9000))
    except OSError as e:
        failed += e.errno == errno.EADDRNOTAVAIL
    s.close()
    time.sleep(0.005)
accepted, _ = srv.accept()
accepted.close()
for c in held:
    c.close()
print(failed)
`

// TestKernelCountsOpensFailuresCloses: in a namespace whose range has 2
// ports, a client opens 2 connections, makes 5 connect() calls that find
// no port; the listener closes one of the 2 first, the client the other;
// over IPv4 and over IPv6. The ledger counts in that namespace exactly 7
// opens, 5 failures and 2 active closes: by the client's command towards
// the destination, and the listener's close keyed by its local port, not
// the client's; another namespace sees none.
func TestKernelCountsOpensFailuresCloses(t *testing.T) {
	tr := openTracer(t)
	python := testbin.Tool(t, "python3", "python3")
	for _, host := range []string{"127.0.0.1", "::1"} {
		t.Run(host, func(t *testing.T) {
			countEvents(t, NewLedger(tr), python, netip.MustParseAddr(host))
		})
	}
}

func countEvents(t *testing.T, ledger *Ledger, python string, host netip.Addr) {
	start := time.Now()
	ns := netnstest.New(t)
	other := netnstest.New(t)
	ns.SetSysctl(t, "net.ipv4.ip_local_port_range", "40000 40001")
	if out := strings.TrimSpace(ns.MustRun(t, python, "-c", client, host.String())); out != "5" {
		t.Fatalf("the client saw %s EADDRNOTAVAIL, want 5", out)
	}
	const ok, failed = 2, 5

	ev, err := ledger.Events(ns.Cookie(t), start)
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
	dest := advisor.DestKey{Local: host, Remote: netip.AddrPortFrom(host, 9000)}
	var byClient, byListener advisor.ConnTotals
	for _, f := range ev.Flows {
		switch k, isDest := f.Dest(); {
		case isDest && k == dest && f.Command == "python3":
			byClient.Add(f.ConnTotals)
		case !isDest && f.LocalPort == 9000 && f.Local == host && !f.Remote.Addr().IsValid():
			byListener.Add(f.ConnTotals)
		}
	}
	if byClient != (advisor.ConnTotals{Opens: ok + failed, Failures: failed, ActiveCloses: 1}) ||
		byListener != (advisor.ConnTotals{ActiveCloses: 1}) {
		t.Errorf("towards %v %+v, on local port 9000 %+v; flows %+v", dest, byClient, byListener, ev.Flows)
	}
	quiet, err := ledger.Events(other.Cookie(t), start)
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
	if totals[ns.Cookie(t)] != ev.Totals {
		t.Errorf("namespace totals %+v, events %+v", totals[ns.Cookie(t)], ev.Totals)
	}
}

// TestKernelRecreatedNamespace: a namespace makes connections and goes;
// the next namespace to take its inode (the kernel hands a freed inode
// out again at once) starts with no events, while the ledger still holds
// the first one's under its cookie.
func TestKernelRecreatedNamespace(t *testing.T) {
	tr := openTracer(t)
	python := testbin.Tool(t, "python3", "python3")
	ledger := NewLedger(tr)
	// The kernel frees a namespace's inode in its cleanup work, after its
	// last holder exits, and then hands out the lowest free one: new
	// namespaces are held until one has it. Tests of other packages make
	// namespaces at the same time and may take it first; the scenario
	// then runs again.
	var (
		start       time.Time
		second      *netnstest.NS
		ino, cookie uint64
	)
	for attempt := 1; second == nil; attempt++ {
		if attempt > 5 {
			t.Fatalf("no new namespace of this test took a freed inode in 5 attempts: the test proves nothing")
		}
		start = time.Now()
		first := netnstest.Unnamed(t, "", "sleep", "600")
		first.SetSysctl(t, "net.ipv4.ip_local_port_range", "40000 40001")
		first.MustRun(t, python, "-c", client, "127.0.0.1")
		ino, cookie = first.Inode(t), first.Cookie(t)
		first.Kill()
		for deadline := time.Now().Add(10 * time.Second); second == nil && time.Now().Before(deadline); {
			ns := netnstest.Unnamed(t, "", "sleep", "600")
			if ns.Inode(t) == ino {
				second = ns
			} else if ns.Inode(t) > ino {
				ns.Kill()
				time.Sleep(100 * time.Millisecond)
			}
		}
		if second == nil {
			t.Logf("attempt %d: inode %d went to another test's namespace", attempt, ino)
		}
	}
	if second.Cookie(t) == cookie {
		t.Fatalf("the new namespace has the old one's cookie %d", cookie)
	}
	gone, err := ledger.Events(cookie, start)
	if err != nil {
		t.Fatal(err)
	}
	if gone.Totals != (advisor.ConnTotals{Opens: 7, Failures: 5, ActiveCloses: 2}) {
		t.Errorf("the freed namespace's events %+v, want 7 opens, 5 failures, 2 active closes", gone.Totals)
	}
	fresh, err := ledger.Events(second.Cookie(t), start)
	if err != nil {
		t.Fatal(err)
	}
	if fresh.Totals != (advisor.ConnTotals{}) || len(fresh.Flows) != 0 {
		t.Errorf("the namespace that took inode %d inherited events: %+v", ino, fresh)
	}
	totals, err := ledger.NetnsTotals(start)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := totals[second.Cookie(t)]; ok {
		t.Errorf("namespace totals list the new namespace: %+v", totals)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

// retrier holds the namespace's only port, then fails connect() towards
// HOST port 9000 as argv[2] says: "go", two dials as Go's dialer makes
// them on EADDRNOTAVAIL, three calls each, one at once after the other,
// each on a new socket after closing the last;
// "spaced", three such calls 20 ms apart; "threads", one call in each of
// two threads released together. It prints the EADDRNOTAVAIL it saw.
const retrier = `
import errno, socket, sys, threading, time
host, mode = sys.argv[1], sys.argv[2]
srv = socket.socket()
srv.bind((host, 9000))
srv.listen(16)
held = socket.socket()
held.connect((host, 9000))
failed = []
def call():
    s = socket.socket()
    try:
        s.connect((host, 9000))
    except OSError as e:
        failed.append(e.errno == errno.EADDRNOTAVAIL)
    s.close()
if mode == "threads":
    go = threading.Barrier(2)
    def run():
        go.wait()
        call()
    ts = [threading.Thread(target=run) for _ in range(2)]
    for t in ts: t.start()
    for t in ts: t.join()
else:
    for _ in range(6 if mode == "go" else 3):
        call()
        if mode == "spaced":
            time.sleep(0.02)
print(sum(failed))
`

// TestKernelCountsImmediateRetries: a thread's connect() that finds no port
// and is called again at once on a new socket, towards the same
// destination, counts as a failure and a retry, up to two retries in a
// row (six calls at once are two attempts); calls 20 ms apart, or by two
// threads at once, are failures only.
func TestKernelCountsImmediateRetries(t *testing.T) {
	tr := openTracer(t)
	python := testbin.Tool(t, "python3", "python3")
	for _, tc := range []struct {
		mode              string
		failures, retries uint64
	}{
		{"go", 6, 4},
		{"spaced", 3, 0},
		{"threads", 2, 0},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			ledger := NewLedger(tr)
			start := time.Now()
			ns := netnstest.New(t)
			ns.SetSysctl(t, "net.ipv4.ip_local_port_range", "40000 40000")
			out := strings.TrimSpace(ns.MustRun(t, python, "-c", retrier, "127.0.0.1", tc.mode))
			if out != strconv.FormatUint(tc.failures, 10) {
				t.Fatalf("the client saw %s EADDRNOTAVAIL, want %d", out, tc.failures)
			}
			ev, err := ledger.Events(ns.Cookie(t), start)
			if err != nil {
				t.Fatal(err)
			}
			if got := ev.Totals; got.Failures != tc.failures || got.Retries != tc.retries {
				t.Errorf("%d failures, %d retries; want %d, %d", got.Failures, got.Retries, tc.failures, tc.retries)
			}
			if got := ev.Totals.FailedAttempts(); got != tc.failures-tc.retries {
				t.Errorf("failed attempts %d, want %d", got, tc.failures-tc.retries)
			}
		})
	}
}
