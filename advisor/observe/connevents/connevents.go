// Package connevents counts TCP connection events in the kernel with an
// eBPF program on the sock:inet_sock_set_state tracepoint: per network
// namespace, cgroup, process and destination, the connections opened, the
// connect() calls that failed for lack of a local port, and the active
// closes (advisor/KERNEL.md, "Connection events"). It only reads.
//
// A Tracer from Open holds the attached program; a Ledger keeps what the
// tracer counted over the last minutes and answers, per namespace, what
// happened since a time. Where the kernel refuses the program (no BTF, no
// CAP_BPF and CAP_PERFMON, lockdown), Open returns an *UnavailableError
// whose Reason says why, and tcp-advisor works from socket dumps alone.
package connevents

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/advisor/netns"
)

// UnavailableError says why the kernel's connection events cannot be had.
type UnavailableError struct {
	// Reason is a short phrase for status lines: "no kernel BTF
	// (/sys/kernel/btf/vmlinux)", "CAP_BPF and CAP_PERFMON missing", ...
	Reason string
	Err    error
}

func (e *UnavailableError) Error() string {
	return "kernel events unavailable: " + e.Reason
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// Paths the tracer reads; tests point them elsewhere.
const (
	btfPath      = "/sys/kernel/btf/vmlinux"
	lockdownPath = "/sys/kernel/security/lockdown"
)

// Tracer is the attached program and its maps.
type Tracer struct {
	objs    connObjects
	link    link.Link
	cgroups *CgroupNames
	cpus    int
}

// Open loads the program and attaches it to sock:inet_sock_set_state. It
// returns an *UnavailableError when the kernel refuses.
func Open() (*Tracer, error) {
	if _, err := os.Stat(btfPath); err != nil {
		return nil, &UnavailableError{Reason: "no kernel BTF (" + btfPath + ")", Err: err}
	}
	// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK.
	if err := rlimit.RemoveMemlock(); err != nil && !errors.Is(err, unix.EPERM) {
		return nil, refused(err)
	}
	// The program keys namespaces by cookie; without SO_NETNS_COOKIE
	// (Linux 5.14) nothing would name the namespace a reader is in.
	if cookie, err := netns.ThreadCookie(); err != nil || cookie == 0 {
		return nil, &UnavailableError{Reason: "no network namespace cookies (SO_NETNS_COOKIE, Linux 5.14)", Err: err}
	}
	t := &Tracer{cgroups: NewCgroupNames(CgroupRoot())}
	if err := loadConnObjects(&t.objs, nil); err != nil {
		return nil, refused(err)
	}
	if err := t.Attach(); err != nil {
		t.objs.Close()
		return nil, refused(err)
	}
	var err error
	if t.cpus, err = ebpf.PossibleCPU(); err != nil {
		t.Close()
		return nil, refused(err)
	}
	return t, nil
}

// refused names why loading or attaching failed: the missing
// capabilities, the kernel's lockdown, or the error itself.
//
// The capabilities come first, whatever the error says: the library
// rewords some refusals (a map created without CAP_BPF reads as "prealloc
// maps not supported").
func refused(err error) error {
	if missing := missingCaps(); missing != "" {
		return &UnavailableError{Reason: missing + " missing", Err: err}
	}
	if !errors.Is(err, unix.EPERM) && !errors.Is(err, unix.EACCES) {
		return &UnavailableError{Reason: err.Error(), Err: err}
	}
	if mode := lockdownMode(lockdownPath); mode != "" && mode != "none" {
		return &UnavailableError{Reason: "kernel lockdown (" + mode + ")", Err: err}
	}
	return &UnavailableError{Reason: "bpf() refused with the capabilities held (" + err.Error() + ")", Err: err}
}

// Capability bits (include/uapi/linux/capability.h).
const (
	capSysAdmin = 21
	capPerfmon  = 38
	capBPF      = 39
)

// missingCaps names the capabilities this process lacks to load and attach
// a tracing program: CAP_BPF and CAP_PERFMON, which CAP_SYS_ADMIN stands in
// for; "" when it holds them.
func missingCaps() string {
	var hdr = unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return ""
	}
	has := func(c uint) bool { return data[c/32].Effective&(1<<(c%32)) != 0 }
	if has(capSysAdmin) {
		return ""
	}
	var missing []string
	for _, c := range []struct {
		bit  uint
		name string
	}{{capBPF, "CAP_BPF"}, {capPerfmon, "CAP_PERFMON"}} {
		if !has(c.bit) {
			missing = append(missing, c.name)
		}
	}
	return strings.Join(missing, " and ")
}

// lockdownMode reads the active lockdown mode, the bracketed word of
// "none [integrity] confidentiality"; "" when it cannot be read.
func lockdownMode(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	_, after, ok := strings.Cut(string(b), "[")
	mode, _, ok2 := strings.Cut(after, "]")
	if !ok || !ok2 {
		return ""
	}
	return mode
}

// Attach attaches the program to the tracepoint, as Open does; nothing
// when it is attached.
func (t *Tracer) Attach() error {
	if t.link != nil {
		return nil
	}
	l, err := link.AttachTracing(link.TracingOptions{Program: t.objs.InetSockSetState, AttachType: ebpf.AttachTraceRawTp})
	if err != nil {
		return err
	}
	t.link = l
	return nil
}

// Detach detaches the program and keeps its maps: nothing is counted until
// Attach. The agent never detaches; a benchmark alternates.
func (t *Tracer) Detach() error {
	if t.link == nil {
		return nil
	}
	err := t.link.Close()
	t.link = nil
	return err
}

// Close detaches the program and frees its maps.
func (t *Tracer) Close() error {
	return errors.Join(t.Detach(), t.objs.Close())
}

// RunStats is the time the kernel spent running the program and how often
// it ran, since it was loaded. The kernel counts both only while BPF
// statistics are enabled (ebpf.EnableStats, kernel.bpf_stats_enabled).
func (t *Tracer) RunStats() (time.Duration, uint64, error) {
	st, err := t.objs.InetSockSetState.Stats()
	if err != nil {
		return 0, 0, err
	}
	return st.Runtime, st.RunCount, nil
}

// Drained is what the maps held when drained, per network namespace (by
// cookie: the kernel never reuses one within a boot, while a new namespace
// takes a freed one's inode at once): every flow, the totals (the flows'
// counts and those of the events the flow map had no room for), and the
// tracer's count of such events so far.
type Drained struct {
	Flows    map[uint64][]advisor.ConnFlow
	Totals   map[uint64]advisor.ConnTotals
	Overflow uint64
}

// Drain reads and empties the maps: the counts since the last Drain.
func (t *Tracer) Drain() (Drained, error) {
	d := Drained{Flows: map[uint64][]advisor.ConnFlow{}, Totals: map[uint64]advisor.ConnTotals{}}
	per := make([]connCounts, t.cpus)
	var key connFlowKey
	for _, k := range keysOf[connFlowKey](t.objs.Flows) {
		key = k
		if err := t.objs.Flows.LookupAndDelete(&key, &per); err != nil {
			if errors.Is(err, ebpf.ErrKeyNotExist) {
				continue
			}
			return d, fmt.Errorf("drain flows: %w", err)
		}
		f := flowOf(k, sum(per))
		f.Unit = t.cgroups.Unit(f.CgroupID, f.PID, f.Command)
		d.Flows[k.Netns] = append(d.Flows[k.Netns], f)
		d.add(k.Netns, f.ConnTotals)
	}
	for _, ns := range keysOf[uint64](t.objs.NetnsOverflow) {
		if err := t.objs.NetnsOverflow.LookupAndDelete(&ns, &per); err != nil {
			if errors.Is(err, ebpf.ErrKeyNotExist) {
				continue
			}
			return d, fmt.Errorf("drain namespace overflow: %w", err)
		}
		d.add(ns, sum(per))
	}
	// The counter only grows: the ledger takes differences.
	var over []uint64
	if err := t.objs.Overflows.Lookup(uint32(overflowFlows), &over); err != nil {
		return d, fmt.Errorf("overflow counter: %w", err)
	}
	for _, v := range over {
		d.Overflow += v
	}
	return d, nil
}

// add counts c in namespace ns's totals.
func (d Drained) add(ns uint64, c advisor.ConnTotals) {
	t := d.Totals[ns]
	t.Add(c)
	d.Totals[ns] = t
}

// keysOf lists a map's keys. Keys the program adds meanwhile wait for the
// next drain.
func keysOf[K any](m *ebpf.Map) []K {
	var keys []K
	var k K
	var per []connCounts
	it := m.Iterate()
	for it.Next(&k, &per) {
		keys = append(keys, k)
	}
	return keys
}

func sum(per []connCounts) advisor.ConnTotals {
	var t advisor.ConnTotals
	for _, c := range per {
		t.Add(advisor.ConnTotals{Opens: c.Opens, Failures: c.Failures, ActiveCloses: c.Closes, Retries: c.Retries})
	}
	return t
}

// Address families and flow directions as connevents.c writes them.
const (
	afInet        = 2
	dirLocalPort  = 1
	overflowFlows = 0
	inetAddrBytes = 4
)

// flowOf converts a map key and its counts.
func flowOf(k connFlowKey, t advisor.ConnTotals) advisor.ConnFlow {
	addr := func(b [16]byte) netip.Addr {
		if k.Family == afInet {
			return netip.AddrFrom4([inetAddrBytes]byte(b[:inetAddrBytes]))
		}
		return netip.AddrFrom16(b).Unmap()
	}
	f := advisor.ConnFlow{
		PID:        int(k.Tgid),
		Command:    unix.ByteSliceToString(k.Comm[:]),
		CgroupID:   k.Cgroup,
		Local:      addr(k.Saddr),
		ConnTotals: t,
	}
	if k.Dir == dirLocalPort {
		f.LocalPort = k.Port
	} else {
		f.Remote = netip.AddrPortFrom(addr(k.Daddr), k.Port)
	}
	return f
}
