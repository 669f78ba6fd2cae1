package observe

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/internal/netnstest"
)

// The fixtures testdata/proc/net/tcp and tcp6 were read from a scratch
// namespace holding: a listener on 127.0.0.1:9100 with two CLOSE_WAIT
// sockets (their clients' orphans in FIN_WAIT2), four TIME_WAIT sockets
// towards 127.0.0.1:9000, a dual-stack listener on [::]:9443 with one
// v4-mapped connection and one CLOSE_WAIT on ::1.
func TestParseProcNetTCPFixtures(t *testing.T) {
	read := func(name string) []diagMsg {
		f, err := os.Open("testdata/proc/net/" + name)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var out []diagMsg
		if err := parseProcNetTCP(f, func(m diagMsg) bool { out = append(out, m); return true }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	v4, v6 := read("tcp"), read("tcp6")
	if len(v4) != 9 || len(v6) != 5 {
		t.Fatalf("%d and %d sockets, want 9 and 5", len(v4), len(v6))
	}
	tests := []struct {
		name string
		got  diagMsg
		want diagMsg
	}{
		{"listener", v4[0], diagMsg{State: advisor.Listen, Local: netip.MustParseAddrPort("127.0.0.1:9100"), Remote: netip.MustParseAddrPort("0.0.0.0:0"), Inode: 127388}},
		{"close-wait with its unread FIN", v4[1], diagMsg{State: advisor.CloseWait, Local: netip.MustParseAddrPort("127.0.0.1:9100"), Remote: netip.MustParseAddrPort("127.0.0.1:35114"), RQueue: 1, Expires: 0x545 * 10, Inode: 127391}},
		{"orphaned FIN_WAIT2 timewait sock", v4[2], diagMsg{State: advisor.FinWait2, Local: netip.MustParseAddrPort("127.0.0.1:35114"), Remote: netip.MustParseAddrPort("127.0.0.1:9100"), Expires: 0x16DA * 10}},
		{"time-wait with 58 s left", v4[4], diagMsg{State: advisor.TimeWait, Local: netip.MustParseAddrPort("127.0.0.1:53258"), Remote: netip.MustParseAddrPort("127.0.0.1:9000"), Expires: 58480}},
		{"dual-stack listener", v6[0], diagMsg{State: advisor.Listen, Local: netip.MustParseAddrPort("[::]:9443"), Remote: netip.MustParseAddrPort("[::]:0"), Inode: 127411}},
		{"v4-mapped is unmapped", v6[1], diagMsg{State: advisor.Established, Local: netip.MustParseAddrPort("127.0.0.1:9443"), Remote: netip.MustParseAddrPort("127.0.0.1:45488"), Inode: 127415}},
		{"loopback v6", v6[3], diagMsg{State: advisor.CloseWait, Local: netip.MustParseAddrPort("[::1]:9443"), Remote: netip.MustParseAddrPort("[::1]:58238"), RQueue: 1, Inode: 127413}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got  %+v\nwant %+v", tt.got, tt.want)
			}
		})
	}
}

func TestParseProcNetTCPDamage(t *testing.T) {
	const header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	const good = "   0: 0100007F:238C 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 127388 2 0 100 0 0 10 0\n"
	tests := []struct {
		name    string
		in      string
		n       int
		wantErr bool
	}{
		{"empty", "", 0, false},
		{"header only", header, 0, false},
		{"truncated last line", header + good + "   1: 0100007F:23", 1, false},
		{"garbage mid-file", header + "   1: zz:yy\n" + good, 0, true},
		{"bad address length", header + "   1: 0100007:238C 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1\n" + good, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := 0
			err := parseProcNetTCP(strings.NewReader(tt.in), func(diagMsg) bool { n++; return true })
			if (err != nil) != tt.wantErr || n != tt.n {
				t.Errorf("%d sockets, err %v", n, err)
			}
		})
	}
}

// TestReadProcNetTCPAggregates: the fallback sees the fixture's sockets as
// the netlink dump would: listening ports known first, ports counted per
// destination, orphans counted.
func TestReadProcNetTCPAggregates(t *testing.T) {
	sum, err := readProcNetTCP("testdata/proc", allStates, DumpConfig{Range: advisor.PortRange{Low: 32768, High: 60999}})
	if err != nil {
		t.Fatal(err)
	}
	if got := sum.States.Map(); got["LISTEN"] != 2 || got["TIME_WAIT"] != 4 || got["CLOSE_WAIT"] != 2+1 || got["ESTABLISHED"] != 2 || got["FIN_WAIT2"] != 3 {
		t.Errorf("states = %v", got)
	}
	dest := advisor.DestKey{Local: netip.MustParseAddr("127.0.0.1"), Remote: netip.MustParseAddrPort("127.0.0.1:9000")}
	if got := sum.PerDestination[dest]; got.InUse != 4 || got.TimeWait != 4 {
		t.Errorf("127.0.0.1:9000 = %+v", got)
	}
	if sum.OrphanFinWait2 != 3 || len(sum.CloseWait) != 3 || len(sum.Listeners) != 2 {
		t.Errorf("orphans %d, close-wait %d, listeners %d", sum.OrphanFinWait2, len(sum.CloseWait), len(sum.Listeners))
	}
}

// failingDump is a sock_diag dump that fails: after some messages (mid-dump)
// or at once, on every try or only on the first ones.
type failingDump struct {
	err       error
	failTries int // tries that fail; -1: all
	partial   int // messages fed before failing
	calls     int
	tries     int
}

func (f *failingDump) dump(agg *aggregator, family uint8, states advisor.StateSet) error {
	f.calls++
	if family != unix.AF_INET6 && states.Has(advisor.Listen) {
		f.tries++ // every try starts with the listeners (of both families, or IPv4's)
	}
	if f.failTries >= 0 && f.tries > f.failTries {
		return nil
	}
	for i := range f.partial {
		agg.add(diagMsg{State: advisor.TimeWait, Local: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(40000+i)), Remote: netip.MustParseAddrPort("127.0.0.1:9000")})
	}
	return fmt.Errorf("sock_diag AF_INET dump: %w", f.err)
}

// TestObserveSockDiagFailures: a failing or always-interrupted sock_diag
// dump is retried, then replaced by /proc/net/tcp{,6}, and the snapshot
// says so; a dump that fails once and then works is not degraded and
// counts nothing twice.
func TestObserveSockDiagFailures(t *testing.T) {
	tests := []struct {
		name         string
		dump         *failingDump
		wantDegraded string
		wantTW       int
	}{
		{"interrupted every time", &failingDump{err: errDumpInterrupted, failTries: -1, partial: 3}, "NLM_F_DUMP_INTR", 4},
		{"sock_diag missing", &failingDump{err: unix.EPROTONOSUPPORT, failTries: -1}, "protocol not supported", 4},
		{"fails mid-dump every time", &failingDump{err: unix.ENOBUFS, failTries: -1, partial: 100}, "no buffer space", 4},
		{"interrupted once", &failingDump{err: errDumpInterrupted, failTries: 1, partial: 7}, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := New("testdata/proc", "testdata/sys")
			o.dump = tt.dump.dump
			snap, err := o.Observe(Full)
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantDegraded == "" {
				if len(snap.Degraded) != 0 {
					t.Errorf("degraded: %v", snap.Degraded)
				}
			} else if len(snap.Degraded) != 1 || !strings.Contains(snap.Degraded[0], tt.wantDegraded) || !strings.Contains(snap.Degraded[0], "net/tcp") {
				t.Errorf("degraded = %q, want one reason about %q and /proc/net/tcp", snap.Degraded, tt.wantDegraded)
			}
			if got := snap.Sockets.States.Get(advisor.TimeWait); got != tt.wantTW {
				t.Errorf("TIME_WAIT = %d, want %d (a retry must start from scratch)", got, tt.wantTW)
			}
			if tt.dump.err != nil && tt.dump.failTries < 0 && tt.dump.calls < dumpRetries {
				t.Errorf("%d dump calls: no retry", tt.dump.calls)
			}
			f := advisor.Analyze([]advisor.Snapshot{snap})
			if (len(f.Degraded) > 0) != (tt.wantDegraded != "") {
				t.Errorf("findings degraded = %v", f.Degraded)
			}
		})
	}
}

// TestObserveBothSourcesFail: when /proc/net/tcp cannot be read either,
// the observation fails and names both reasons.
func TestObserveBothSourcesFail(t *testing.T) {
	o := New("testdata/proc", "testdata/sys")
	o.dump = (&failingDump{err: unix.EPROTONOSUPPORT, failTries: -1}).dump
	// A /proc with the counters but no net/tcp.
	o.procRoot = t.TempDir()
	os.Mkdir(o.procRoot+"/net", 0o755)
	for _, f := range []string{"net/sockstat", "net/sockstat6"} {
		b, _ := os.ReadFile("testdata/proc/" + f)
		os.WriteFile(o.procRoot+"/"+f, b, 0o644)
	}
	os.Symlink(mustAbs(t, "testdata/proc/1"), o.procRoot+"/1")
	if err := os.Symlink("1", o.procRoot+"/self"); err != nil {
		t.Fatal(err)
	}
	_, err := o.Observe(Full)
	if err == nil || !errors.Is(err, unix.EPROTONOSUPPORT) || !strings.Contains(err.Error(), "net/tcp") {
		t.Errorf("err = %v", err)
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return wd + "/" + p
}

// TestKernelProcNetTCPMatchesSockDiag: on a real table the fallback and the
// netlink dump aggregate to the same summary, cookies aside.
func TestKernelProcNetTCPMatchesSockDiag(t *testing.T) {
	if !netnstest.Inside(t) {
		return
	}
	setSysctl(t, advisor.KeyPortRange, "40000 40999")
	setSysctl(t, advisor.KeyTwReuse, "0")
	srv := serveCloseOnEOF(t, "tcp", "127.0.0.1:9000")
	srv6 := serveCloseOnEOF(t, "tcp", "[::]:9001")
	makeTimeWait(t, "tcp", "127.0.0.1:9000", 300)
	makeTimeWait(t, "tcp6", "[::1]:9001", 50)
	makeCloseWait(t, "127.0.0.1:9100", 40)
	srv.waitClosed(t, 300)
	srv6.waitClosed(t, 50)
	ports := advisor.PortRange{Low: 40000, High: 40999}
	nl, err := DumpSockets(allStates, DumpConfig{Range: ports})
	if err != nil {
		t.Fatal(err)
	}
	text, err := readProcNetTCP("/proc", allStates, DumpConfig{Range: ports})
	if err != nil {
		t.Fatal(err)
	}
	if nl.States != text.States || nl.Ephemeral != text.Ephemeral || !maps.Equal(nl.BySource, text.BySource) || nl.ListenPortsInRange != text.ListenPortsInRange ||
		nl.OrphanFinWait2 != text.OrphanFinWait2 || len(nl.CloseWait) != len(text.CloseWait) || len(nl.Listeners) != len(text.Listeners) {
		t.Errorf("sock_diag %v / %v / %v, /proc %v / %v / %v", nl.States.Map(), nl.Ephemeral.Map(), nl.BySource, text.States.Map(), text.Ephemeral.Map(), text.BySource)
	}
	if len(nl.PerDestination) != len(text.PerDestination) {
		t.Fatalf("destinations %v vs %v", nl.PerDestination, text.PerDestination)
	}
	// Ages may differ by the milliseconds between the two reads.
	for k, c := range nl.PerDestination {
		if tc := text.PerDestination[k]; tc.InUse != c.InUse || tc.TimeWait != c.TimeWait {
			t.Errorf("%v: sock_diag %+v, /proc %+v", k, c, text.PerDestination[k])
		}
	}
	if nl.States.Get(advisor.TimeWait) < 350 {
		t.Errorf("only %d TIME_WAIT", nl.States.Get(advisor.TimeWait))
	}
}

// TestDumpBothFamiliesRefused: a kernel that refuses TCPDIAG_GETSOCK is
// asked per family, at once and from then on, and that is not a failed try.
func TestDumpBothFamiliesRefused(t *testing.T) {
	t.Cleanup(func() { perFamily.Store(false) })
	perFamily.Store(false)
	var asked []uint8
	dump := func(agg *aggregator, family uint8, states advisor.StateSet) error {
		asked = append(asked, family)
		if family == unix.AF_UNSPEC {
			return fmt.Errorf("%w: %w", errBothFamiliesRefused, unix.EINVAL)
		}
		if family == unix.AF_INET && !states.Has(advisor.Listen) {
			agg.add(diagMsg{State: advisor.TimeWait, Local: netip.MustParseAddrPort("127.0.0.1:40000"), Remote: netip.MustParseAddrPort("127.0.0.1:9000")})
		}
		return nil
	}
	sum, err := dumpSockets(dump, advisor.StatesOf(advisor.TimeWait), DumpConfig{Range: advisor.PortRange{Low: 32768, High: 60999}})
	if err != nil {
		t.Fatal(err)
	}
	if got := sum.States.Get(advisor.TimeWait); got != 1 {
		t.Errorf("TIME_WAIT = %d, want 1", got)
	}
	want := []uint8{unix.AF_UNSPEC, unix.AF_INET, unix.AF_INET6, unix.AF_INET, unix.AF_INET6}
	if !slices.Equal(asked, want) {
		t.Errorf("families asked %v, want %v", asked, want)
	}
	if got := dumpFamilies(); !slices.Equal(got, []uint8{unix.AF_INET, unix.AF_INET6}) {
		t.Errorf("later dumps ask for %v, want per family", got)
	}
}
