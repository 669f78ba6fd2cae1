package observe

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tcp-advisor/tcp-advisor/advisor"
)

// encodeDiagMsg builds the inet_diag_msg the kernel would send for m.
func encodeDiagMsg(family uint8, m diagMsg) []byte {
	b := make([]byte, sizeofInetDiagMsg)
	b[0] = family
	b[1] = uint8(m.State)
	binary.BigEndian.PutUint16(b[4:6], m.Local.Port())
	binary.BigEndian.PutUint16(b[6:8], m.Remote.Port())
	if family == unix.AF_INET {
		a, r := m.Local.Addr().As4(), m.Remote.Addr().As4()
		copy(b[8:], a[:])
		copy(b[24:], r[:])
	} else {
		a, r := m.Local.Addr().As16(), m.Remote.Addr().As16()
		copy(b[8:], a[:])
		copy(b[24:], r[:])
	}
	binary.NativeEndian.PutUint32(b[44:48], uint32(m.Cookie))
	binary.NativeEndian.PutUint32(b[48:52], uint32(m.Cookie>>32))
	binary.NativeEndian.PutUint32(b[52:56], m.Expires)
	binary.NativeEndian.PutUint32(b[56:60], m.RQueue)
	binary.NativeEndian.PutUint32(b[60:64], m.WQueue)
	binary.NativeEndian.PutUint32(b[68:72], m.Inode)
	return b
}

func TestParseDiagMsg(t *testing.T) {
	v4 := diagMsg{
		State:  advisor.TimeWait,
		Local:  netip.MustParseAddrPort("10.0.0.1:40001"),
		Remote: netip.MustParseAddrPort("10.0.0.2:80"),
		Cookie: 0x1122334455667788, Expires: 59000,
	}
	v6 := diagMsg{
		State:  advisor.CloseWait,
		Local:  netip.MustParseAddrPort("[2001:db8::1]:443"),
		Remote: netip.MustParseAddrPort("[2001:db8::2]:51000"),
		RQueue: 7, WQueue: 9, Inode: 4242,
	}
	mapped := diagMsg{
		State:  advisor.Established,
		Local:  netip.MustParseAddrPort("[::ffff:127.0.0.1]:40002"),
		Remote: netip.MustParseAddrPort("[::ffff:127.0.0.1]:9000"),
	}
	tests := []struct {
		name   string
		family uint8
		in     diagMsg
		want   diagMsg
	}{
		{"ipv4", unix.AF_INET, v4, v4},
		{"ipv6", unix.AF_INET6, v6, v6},
		{"v4-mapped unmapped", unix.AF_INET6, mapped, diagMsg{
			State:  advisor.Established,
			Local:  netip.MustParseAddrPort("127.0.0.1:40002"),
			Remote: netip.MustParseAddrPort("127.0.0.1:9000"),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseDiagMsg(encodeDiagMsg(tt.family, tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseDiagMsgErrors(t *testing.T) {
	if _, err := parseDiagMsg(make([]byte, sizeofInetDiagMsg-1)); err == nil {
		t.Error("short message accepted")
	}
	b := make([]byte, sizeofInetDiagMsg)
	b[0] = unix.AF_UNIX
	if _, err := parseDiagMsg(b); err == nil {
		t.Error("AF_UNIX message accepted")
	}
}

func TestAggregator(t *testing.T) {
	cfg := DumpConfig{Range: advisor.PortRange{Low: 40000, High: 40999}, Reserved: advisor.PortSet{{Low: 40600, High: 40600}}, ReuseDelay: time.Second}
	a := newAggregator(advisor.StatesOf(advisor.AllStates()...), cfg)
	add := func(state advisor.TCPState, local, remote string, n int, expires uint32) {
		for i := range n {
			lp := netip.MustParseAddrPort(local)
			lp = netip.AddrPortFrom(lp.Addr(), lp.Port()+uint16(i))
			a.add(diagMsg{State: state, Local: lp, Remote: netip.MustParseAddrPort(remote), Inode: uint32(i + 1), RQueue: 1, Expires: expires})
		}
	}
	// TIME_WAIT by age: 2 younger than the 1 s reuse delay, 3 more younger
	// than the 5 s rate window, 4 in mid life, 1 about to expire.
	add(advisor.TimeWait, "127.0.0.1:40000", "127.0.0.1:9000", 2, 59500)
	add(advisor.TimeWait, "127.0.0.1:40002", "127.0.0.1:9000", 3, 57000)
	add(advisor.TimeWait, "127.0.0.1:40005", "127.0.0.1:9000", 4, 30000)
	add(advisor.TimeWait, "127.0.0.1:40009", "127.0.0.1:9000", 1, 2000)
	add(advisor.Established, "127.0.0.1:40100", "127.0.0.1:9000", 5, 0)
	add(advisor.Established, "127.0.0.1:40200", "127.0.0.1:9001", 3, 0)
	add(advisor.Established, "10.0.0.5:40100", "10.0.0.9:9001", 2, 0)
	add(advisor.Established, "127.0.0.1:30000", "127.0.0.1:9001", 4, 0) // outside the range
	add(advisor.Listen, "0.0.0.0:8080", "0.0.0.0:0", 1, 0)
	add(advisor.Listen, "0.0.0.0:40500", "0.0.0.0:0", 1, 0)          // inside the range: no destination may use it
	add(advisor.Listen, "10.0.0.5:40700", "0.0.0.0:0", 1, 0)         // inside, on one address
	add(advisor.Listen, "127.0.0.1:40600", "0.0.0.0:0", 1, 0)        // reserved already
	add(advisor.CloseWait, "127.0.0.1:8080", "10.1.1.1:50000", 2, 0) // server side
	// A server listening inside the range: its accepted sockets are not
	// outgoing connections.
	add(advisor.TimeWait, "127.0.0.1:40500", "10.1.1.2:50000", 1, 0)
	a.finish()
	s := a.sum
	if got := s.States.Get(advisor.TimeWait); got != 11 {
		t.Errorf("TIME_WAIT = %d, want 11", got)
	}
	if got := s.States.Get(advisor.Established); got != 14 {
		t.Errorf("ESTABLISHED = %d, want 14", got)
	}
	k := func(l, r string) advisor.DestKey {
		return advisor.DestKey{Local: netip.MustParseAddr(l), Remote: netip.MustParseAddrPort(r)}
	}
	want := map[advisor.DestKey]advisor.DestCount{
		// The sampled inodes are of open sockets, not TIME_WAIT ones.
		k("127.0.0.1", "127.0.0.1:9000"): {InUse: 15, TimeWait: 10, TimeWaitYoung: 2, TimeWaitRecent: 5, TimeWaitExpiring: 1, Inodes: [advisor.SampledInodes]uint32{1, 2, 3, 4, 5}},
		k("127.0.0.1", "127.0.0.1:9001"): {InUse: 3, Inodes: [advisor.SampledInodes]uint32{1, 2, 3}},
		k("10.0.0.5", "10.0.0.9:9001"):   {InUse: 2, Inodes: [advisor.SampledInodes]uint32{1, 2}},
	}
	if len(s.PerDestination) != len(want) {
		t.Errorf("PerDestination = %v, want %v", s.PerDestination, want)
	}
	for key, n := range want {
		if s.PerDestination[key] != n {
			t.Errorf("PerDestination[%v] = %+v, want %+v", key, s.PerDestination[key], n)
		}
	}
	if got := s.Ephemeral.Get(advisor.TimeWait); got != 10 {
		t.Errorf("ephemeral TIME_WAIT = %d, want 10", got)
	}
	// Outgoing ports per source address, plus the listeners inside the
	// range on that address or the wildcard.
	if got := s.BySource[netip.MustParseAddr("127.0.0.1")]; got != 18+1 {
		t.Errorf("127.0.0.1 holds %d distinct ports, want 19", got)
	}
	if got := s.BySource[netip.MustParseAddr("10.0.0.5")]; got != 2+2 {
		t.Errorf("10.0.0.5 holds %d distinct ports, want 4", got)
	}
	if s.ListenPortsInRange != 2 {
		t.Errorf("listen ports in range = %d, want 2 (40500, 40700; 40600 is reserved)", s.ListenPortsInRange)
	}
	if len(s.CloseWait) != 2 || len(s.Listeners) != 4 {
		t.Errorf("detailed: %d CLOSE_WAIT, %d LISTEN", len(s.CloseWait), len(s.Listeners))
	}
	if s.Queued.RecvQSockets != 27 {
		t.Errorf("RecvQSockets = %d, want 27 (listeners excluded)", s.Queued.RecvQSockets)
	}
}

func FuzzParseDiagMsg(f *testing.F) {
	f.Add(encodeDiagMsg(unix.AF_INET, diagMsg{State: advisor.TimeWait, Local: netip.MustParseAddrPort("1.2.3.4:5"), Remote: netip.MustParseAddrPort("5.6.7.8:9")}))
	f.Add(encodeDiagMsg(unix.AF_INET6, diagMsg{State: advisor.Listen, Local: netip.MustParseAddrPort("[::1]:5"), Remote: netip.MustParseAddrPort("[::]:0")}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		a := newAggregator(advisor.StatesOf(advisor.AllStates()...), DumpConfig{Range: advisor.PortRange{Low: 1024, High: 65535}, ReuseDelay: time.Second})
		if !a.consume(b) {
			if a.err == nil {
				t.Fatal("stopped without an error")
			}
			return
		}
		m, _ := parseDiagMsg(b)
		if m.Local.Addr().Is4In6() || m.Remote.Addr().Is4In6() {
			t.Fatalf("v4-mapped address survived: %v %v", m.Local, m.Remote)
		}
		if a.sum.States.Total() > 1 {
			t.Fatalf("one message counted %d times", a.sum.States.Total())
		}
	})
}
