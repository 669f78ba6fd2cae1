package advisor

import (
	"fmt"
	"time"
)

// CheapFigures are what the pre-check reads each tick without walking the
// socket table (advisor/KERNEL.md, "The pre-check"). CheapOf takes them from
// a snapshot's sysctls and counters, and ConnectFailures from its connection
// events, which see what the counters never do.
type CheapFigures struct {
	Time time.Time `json:"-"`
	// Usable is the ports one destination can use: the range less the
	// reserved ports inside it.
	Usable int `json:"usable"`
	// Hashed counts the namespace's hashed sockets (sockstat TCP inuse +
	// TCP6 inuse): every socket a dump shows other than timewait ones.
	Hashed int `json:"hashed"`
	// BoundOnly bounds the sockets bound but not connected, which hold a
	// port and sit in no hash: in the initial namespace alloc − Hashed
	// (alloc counts every TCP socket of the host, other namespaces'
	// too), elsewhere 0 (unseen).
	BoundOnly int `json:"bound_only"`
	// TimeWait is sockstat tw: TIME_WAIT sockets and orphans waiting in
	// FIN_WAIT2, each holding its port.
	TimeWait int `json:"tw"`
	// Attempts counts outgoing connection attempts so far: Tcp
	// ActiveOpens, which rises once per SYN sent (tcp_connect). A
	// connect() that finds no free port fails before that and never
	// counts: ConnectFailures does.
	Attempts float64 `json:"attempts"`
	// ConnectFailures counts the connect() calls that found no local port
	// since the previous snapshot, from the kernel's connection events (0
	// where they are unavailable): each one is a destination already
	// short of ports.
	ConnectFailures uint64 `json:"connect_failures"`
}

// CheapOf returns the snapshot's cheap figures.
func CheapOf(s Snapshot) CheapFigures {
	c := CheapFigures{
		Time:      s.Time,
		Usable:    s.Sysctls.UsablePorts(),
		Hashed:    s.Counters.TCPInUse + s.Counters.TCP6InUse,
		BoundOnly: s.SocketsHoldingPorts() - s.Counters.TimeWait - s.Counters.TCPInUse - s.Counters.TCP6InUse,
		TimeWait:  s.Counters.TimeWait,
		Attempts:  s.Counters.ActiveOpens,
	}
	if s.Events != nil {
		c.ConnectFailures = s.Events.Totals.Failures
	}
	return c
}

// Open is the sockets holding a local port outside TIME_WAIT.
func (c CheapFigures) Open() int { return c.Hashed + c.BoundOnly }

// Holding is every socket that holds a local port now: no destination
// holds more.
func (c CheapFigures) Holding() int { return c.Open() + c.TimeWait }

// DumpFraction is the share of a destination's usable ports at which the
// pre-check asks for the per-socket dump: the default policies start to act
// at 90 % of a destination's ports, or when it runs out within ten
// minutes, and half leaves a margin for policies that act earlier.
const DumpFraction = 0.5

// PrecheckHorizon is how far ahead the pre-check extends the growth of
// open sockets: as far as the default port rule looks for a destination
// running out. A destination that could run short only later is caught by
// a later tick.
const PrecheckHorizon = 10 * time.Minute

// RateInterval is the shortest time between two ticks that the pre-check
// takes a rate over: over less, one burst would read as a flood.
const RateInterval = time.Second

// Precheck is the pre-check's answer for one namespace at one tick: whether
// a destination could run short, so that the per-socket dump is needed,
// and the figures behind it.
type Precheck struct {
	// Dump is true when a destination could run short.
	Dump bool `json:"dump"`
	// Holding is the sockets holding local ports now, Usable the ports
	// one destination can use.
	Holding int `json:"sockets_holding_ports"`
	Usable  int `json:"usable"`
	// Rates are known from two ticks on: AttemptsPerSecond is the growth
	// of Attempts, OpenGrowthPerSecond that of the open sockets (0 when
	// they fall).
	RatesKnown          bool    `json:"rates_known"`
	AttemptsPerSecond   float64 `json:"attempts_per_second"`
	OpenGrowthPerSecond float64 `json:"open_growth_per_second"`
	// Plateau bounds the ports the namespace's connections hold once its
	// TIME_WAIT has levelled off at the present rate: the open sockets +
	// attempts per second × 60 s, every timewait socket having been opened in the
	// last 60 s. Ahead adds the growth of open sockets over
	// PrecheckHorizon. Both equal Holding without rates.
	Plateau int `json:"plateau_bound"`
	Ahead   int `json:"horizon_bound"`
	// ConnectFailures is CheapFigures.ConnectFailures: connect() calls
	// that found no local port since the previous snapshot.
	ConnectFailures uint64 `json:"connect_failures"`
	// Asked names what asked for the dump when the ports did not: a rule
	// that needs per-socket detail, or a flag. Empty otherwise.
	Asked string `json:"asked,omitempty"`
}

// CheckPorts runs the pre-check on the latest cheap figures and, when not
// nil, those of the tick before (advisor/KERNEL.md, "The pre-check"). No
// destination can hold more ports than all the sockets holding local ports
// together, and each port taken after now needs a connection attempt.
// It asks for the dump when connect() calls failed for lack of a port
// since the previous snapshot, when the sockets holding ports reach
// DumpFraction of the usable ports, when the plateau bound does, or when
// open sockets growing at their present rate reach the usable ports within
// PrecheckHorizon.
func CheckPorts(prev *CheapFigures, cur CheapFigures) Precheck {
	p := Precheck{Holding: cur.Holding(), Usable: cur.Usable, Plateau: cur.Holding(), Ahead: cur.Holding(),
		ConnectFailures: cur.ConnectFailures}
	if prev != nil {
		if dt := cur.Time.Sub(prev.Time).Seconds(); dt >= RateInterval.Seconds() {
			p.RatesKnown = true
			p.AttemptsPerSecond = max(cur.Attempts-prev.Attempts, 0) / dt
			p.OpenGrowthPerSecond = max(float64(cur.Open()-prev.Open()), 0) / dt
			plateau := float64(cur.Open()) + p.AttemptsPerSecond*TimeWaitLen.Seconds()
			p.Plateau = max(p.Holding, ceilInt(plateau))
			p.Ahead = p.Plateau + ceilInt(p.OpenGrowthPerSecond*PrecheckHorizon.Seconds())
		}
	}
	half := DumpFraction * float64(p.Usable)
	p.Dump = p.ConnectFailures > 0 || float64(p.Holding) >= half || float64(p.Plateau) >= half || p.Ahead >= p.Usable
	return p
}

func ceilInt(x float64) int {
	n := int(x)
	if float64(n) < x {
		n++
	}
	return n
}

// Dumped reports whether the per-socket dump is taken: the ports call for
// it or something asked.
func (p Precheck) Dumped() bool { return p.Dump || p.Asked != "" }

// String says whether the namespace was dumped and why, such as "dumped:
// no — 12 sockets hold ports of 28232 usable" or "dumped: yes — a
// destination is short: 40 connect() calls found no local port; ...".
func (p Precheck) String() string {
	figures := fmt.Sprintf("%d sockets hold ports of %d usable", p.Holding, p.Usable)
	if p.RatesKnown {
		figures += fmt.Sprintf("; at %.1f connection attempts/s and %+.1f open sockets/s: at most %d once TIME_WAIT levels off, %d within %s",
			p.AttemptsPerSecond, p.OpenGrowthPerSecond, p.Plateau, p.Ahead, PrecheckHorizon)
	}
	switch {
	case p.ConnectFailures > 0:
		return fmt.Sprintf("dumped: yes — a destination is short: %d connect() calls found no local port; ", p.ConnectFailures) + figures
	case p.Dump:
		return "dumped: yes — a destination could run short: " + figures
	case p.Asked != "":
		return "dumped: yes — " + p.Asked + "; " + figures
	}
	return "dumped: no — " + figures
}

// Ceiling returns f with every figure that only a socket dump gives raised
// to the most the cheap figures allow: each hashed socket counted in every
// state a rule may read (CLOSE_WAIT, FIN_WAIT2 held by a process, ...),
// each timewait socket as TIME_WAIT and as an orphan in FIN_WAIT2, every
// socket holding a port on one source address. Bound-only sockets are in
// no state a dump shows. A rule whose condition rises with these
// figures and that does not fire on the ceiling cannot fire on the dump.
// The worst destination is left to CheckPorts, and listeners to the
// ListenOverflows counter, which rises as soon as a full accept queue
// refuses a connection.
func (c CheapFigures) Ceiling(f Findings) Findings {
	hashed, tw := c.Hashed, c.TimeWait
	f.States = map[string]int{}
	for _, s := range AllStates() {
		f.States[s.String()] = hashed
	}
	f.States[TimeWait.String()] = tw
	f.States[FinWait2.String()] = hashed + tw
	f.TimeWait.Count = tw
	f.TimeWait.Outgoing = &tw
	f.FinWait2.Count, f.FinWait2.Orphaned, f.FinWait2.OrphanedTimeWait = hashed+tw, tw, tw
	f.TimeWait.BucketsInUse = tw
	stuck := hashed
	f.CloseWait = CloseWaitFindings{Count: hashed, UnreadEOF: hashed, EOFRead: hashed, Growth: hashed,
		Remotes: hashed, Pattern: f.CloseWait.Pattern, Samples: 1, Stuck: &stuck}
	if c.Usable > 0 {
		f.Ports.DistinctInUse = c.Holding()
		f.Ports.BindUtilization = float64(c.Holding()) / float64(c.Usable)
	}
	return f
}
