package observe

import (
	"fmt"
	"math"
	"path/filepath"
	"strconv"

	"github.com/prometheus/procfs"

	"github.com/tcp-advisor/tcp-advisor/advisor"
)

// ReadCounters reads /proc/net/sockstat, sockstat6, snmp (Tcp) and netstat
// (TcpExt) below procRoot, as seen from this process's network namespace.
func ReadCounters(procRoot string) (advisor.Counters, error) {
	fs, err := procfs.NewFS(procRoot)
	if err != nil {
		return advisor.Counters{}, err
	}
	self, err := fs.Self()
	if err != nil {
		return advisor.Counters{}, err
	}
	return ReadCountersOf(procRoot, self.PID)
}

// ReadCountersOf reads the same counters from procRoot/<pid>/net, which
// shows the network namespace of that task. pid may be a thread id: /proc
// resolves /proc/<tid> though it lists only thread group leaders, so a
// thread that entered another namespace reads it at /proc/<its tid>/net
// (/proc/net and /proc/self/net show the thread group leader's namespace).
func ReadCountersOf(procRoot string, pid int) (advisor.Counters, error) {
	var c advisor.Counters
	netFS, err := procfs.NewFS(filepath.Join(procRoot, strconv.Itoa(pid)))
	if err != nil {
		return c, err
	}
	st, err := netFS.NetSockstat()
	if err != nil {
		return c, fmt.Errorf("sockstat: %w", err)
	}
	for _, p := range st.Protocols {
		if p.Protocol != "TCP" {
			continue
		}
		c.TCPInUse = p.InUse
		c.TimeWait = deref(p.TW)
		c.Orphan = deref(p.Orphan)
		c.Alloc = deref(p.Alloc)
	}
	// sockstat6 is missing when IPv6 is disabled.
	if st6, err := netFS.NetSockstat6(); err == nil {
		for _, p := range st6.Protocols {
			if p.Protocol == "TCP6" {
				c.TCP6InUse = p.InUse
			}
		}
	}
	fs, err := procfs.NewFS(procRoot)
	if err != nil {
		return c, err
	}
	self, err := fs.Proc(pid)
	if err != nil {
		return c, err
	}
	snmp, err := self.Snmp()
	if err != nil {
		return c, fmt.Errorf("snmp: %w", err)
	}
	c.ActiveOpens = derefF(snmp.Tcp.ActiveOpens)
	c.PassiveOpens = derefF(snmp.Tcp.PassiveOpens)
	ns, err := self.Netstat()
	if err != nil {
		return c, fmt.Errorf("netstat: %w", err)
	}
	c.TimeWaitOverflow = derefF(ns.TcpExt.TCPTimeWaitOverflow)
	c.ListenOverflows = derefF(ns.TcpExt.ListenOverflows)
	c.ListenDrops = derefF(ns.TcpExt.ListenDrops)
	c.ReqQFullDrop = derefF(ns.TcpExt.TCPReqQFullDrop)
	c.ReqQFullDoCookies = derefF(ns.TcpExt.TCPReqQFullDoCookies)
	return c, checkCounters(c)
}

// checkCounters refuses counts no kernel writes: negative, or not finite.
// A /proc that shows them is not the kernel's, and figures computed from
// them would be nonsense.
func checkCounters(c advisor.Counters) error {
	for _, n := range []struct {
		name string
		v    float64
	}{
		{"sockstat TCP inuse", float64(c.TCPInUse)}, {"sockstat6 TCP6 inuse", float64(c.TCP6InUse)},
		{"sockstat TCP tw", float64(c.TimeWait)}, {"sockstat TCP orphan", float64(c.Orphan)},
		{"sockstat TCP alloc", float64(c.Alloc)},
		{"snmp Tcp ActiveOpens", c.ActiveOpens}, {"snmp Tcp PassiveOpens", c.PassiveOpens},
		{"netstat TcpExt TCPTimeWaitOverflow", c.TimeWaitOverflow},
		{"netstat TcpExt ListenOverflows", c.ListenOverflows}, {"netstat TcpExt ListenDrops", c.ListenDrops},
		{"netstat TcpExt TCPReqQFullDrop", c.ReqQFullDrop}, {"netstat TcpExt TCPReqQFullDoCookies", c.ReqQFullDoCookies},
	} {
		if n.v < 0 || math.IsNaN(n.v) || math.IsInf(n.v, 0) {
			return fmt.Errorf("%s is %v: not a count", n.name, n.v)
		}
	}
	return nil
}

func deref(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

func derefF(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}
