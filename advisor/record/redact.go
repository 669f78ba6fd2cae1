package record

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/tcp-advisor/tcp-advisor/advisor"
)

// Redact replaces the recording's addresses, process names, unit names,
// namespace names and host name, consistently: one address becomes the
// same stand-in wherever it appears, so destinations, sources and stuck
// sockets still match across frames and the analysis judges the redacted
// recording as it judged the original. What the analysis tells apart is
// kept: loopback and unspecified addresses stay as they are (tcp_tw_reuse
// = 2 acts on loopback only), IPv4 stays IPv4 (stand-ins from
// 198.18.0.0/15) and IPv6 stays IPv6 (from 2001:db8::/32). Ports, pids,
// counts and sysctls are kept. Degradation notes, which may quote paths and
// addresses, are replaced by their number.
func (r *Recording) Redact() {
	rd := &redactor{addrs: map[netip.Addr]netip.Addr{}, names: map[string]string{}, counts: map[string]int{}}
	if r.Host != "" {
		r.Host = rd.name("host", r.Host)
	}
	for i := range r.Series {
		s := &r.Series[i]
		if s.Netns.Name != "" {
			s.Netns.Name = rd.name("netns", s.Netns.Name)
		}
		for j := range s.Frames {
			rd.snapshot(&s.Frames[j].Snapshot)
		}
	}
	r.Redacted = true
}

// redactor holds the stand-ins handed out so far.
type redactor struct {
	addrs  map[netip.Addr]netip.Addr
	names  map[string]string
	counts map[string]int
	v4, v6 int
}

func (rd *redactor) snapshot(snap *advisor.Snapshot) {
	for i := range snap.Degraded {
		snap.Degraded[i] = fmt.Sprintf("degraded source %d (redacted)", i+1)
	}
	sum := snap.Sockets
	if sum == nil {
		return
	}
	if sum.PerDestination != nil {
		per := make(map[advisor.DestKey]advisor.DestCount, len(sum.PerDestination))
		for _, k := range sortedKeys(sum.PerDestination) {
			per[rd.dest(k)] = sum.PerDestination[k]
		}
		sum.PerDestination = per
	}
	if sum.DestOwners != nil {
		owners := make(map[advisor.DestKey][]advisor.Owner, len(sum.DestOwners))
		for _, k := range sortedKeys(sum.DestOwners) {
			os := append([]advisor.Owner(nil), sum.DestOwners[k]...)
			for i := range os {
				rd.owner(&os[i])
			}
			owners[rd.dest(k)] = os
		}
		sum.DestOwners = owners
	}
	if sum.BySource != nil {
		by := make(map[netip.Addr]int, len(sum.BySource))
		for _, a := range slices.SortedFunc(maps.Keys(sum.BySource), netip.Addr.Compare) {
			by[rd.addr(a)] = sum.BySource[a]
		}
		sum.BySource = by
	}
	for _, list := range [][]advisor.DetailedSocket{sum.CloseWait, sum.Listeners} {
		for i := range list {
			s := &list[i]
			s.ID.Local = rd.addrPort(s.ID.Local)
			s.ID.Remote = rd.addrPort(s.ID.Remote)
			if s.Owner != nil {
				o := *s.Owner
				rd.owner(&o)
				s.Owner = &o
			}
		}
	}
}

func (rd *redactor) dest(k advisor.DestKey) advisor.DestKey {
	return advisor.DestKey{Local: rd.addr(k.Local), Remote: rd.addrPort(k.Remote)}
}

func (rd *redactor) addrPort(ap netip.AddrPort) netip.AddrPort {
	if !ap.IsValid() {
		return ap
	}
	return netip.AddrPortFrom(rd.addr(ap.Addr()), ap.Port())
}

// addr returns a's stand-in, handing out the next one of its family the
// first time a is seen.
func (rd *redactor) addr(a netip.Addr) netip.Addr {
	if !a.IsValid() || a.IsLoopback() || a.IsUnspecified() {
		return a
	}
	if r, ok := rd.addrs[a]; ok {
		return r
	}
	var r netip.Addr
	if a.Is4() {
		rd.v4++
		n := rd.v4
		r = netip.AddrFrom4([4]byte{198, 18 + byte(n>>16&1), byte(n >> 8), byte(n)})
	} else {
		rd.v6++
		b := netip.MustParseAddr("2001:db8::").As16()
		n := rd.v6
		for i := 15; i >= 8 && n > 0; i-- {
			b[i] = byte(n)
			n >>= 8
		}
		r = netip.AddrFrom16(b)
	}
	rd.addrs[a] = r
	return r
}

func (rd *redactor) owner(o *advisor.Owner) {
	if o.Command != "" {
		o.Command = rd.name("process", o.Command)
	}
	if o.Unit != "" {
		suffix := ""
		if i := strings.LastIndexByte(o.Unit, '.'); i > 0 {
			suffix = o.Unit[i:]
		}
		o.Unit = rd.name("unit", o.Unit) + suffix
	}
}

// name returns the stand-in for a name of a kind: "process-3".
func (rd *redactor) name(kind, n string) string {
	key := kind + "\x00" + n
	if r, ok := rd.names[key]; ok {
		return r
	}
	rd.counts[kind]++
	r := fmt.Sprintf("%s-%d", kind, rd.counts[kind])
	rd.names[key] = r
	return r
}
