package judge

import (
	"errors"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/advisor/netns"
	"github.com/tcp-advisor/tcp-advisor/advisor/observe"
	"github.com/tcp-advisor/tcp-advisor/advisor/record"
	"github.com/tcp-advisor/tcp-advisor/policies"
)

// Selection says which network namespaces a command looks at: by default
// the one it runs in; with All every namespace of the host; with Name the
// one `ip netns` named so; with PID the one that process runs in.
type Selection struct {
	All  bool
	Name string
	PID  int
	// Full dumps every namespace of All per socket, not only those the
	// pre-check or a rule calls for.
	Full bool
}

// Depth is how deep to observe each selected namespace: one namespace is
// dumped whole; of all of them, only those the pre-check or a rule calls
// for, unless Full.
func (s Selection) Depth() observe.Depth {
	if s.Many() && !s.Full {
		return observe.Checked
	}
	return observe.Full
}

// Many reports whether the selection may hold several namespaces, whose
// output is then one section per namespace.
func (s Selection) Many() bool { return s.All }

// Target is one namespace a command observes.
type Target struct {
	// NS is the namespace; nil for the one this process runs in.
	NS  *netns.Namespace
	Obs *observe.Observer
}

// Targets resolves the selection into the namespaces to observe, host
// first, named ones by name, the rest by inode.
func (s Selection) Targets(paths observe.Paths) ([]Target, error) {
	if !s.All && s.Name == "" && s.PID == 0 {
		return []Target{{Obs: paths.Observer()}}, nil
	}
	d := netns.NewDiscoverer(paths.Proc, paths.Netns)
	var nss []netns.Namespace
	switch {
	case s.All:
		var err error
		if nss, err = d.Discover(); err != nil {
			return nil, err
		}
	case s.Name != "":
		n, err := d.ByName(s.Name)
		if err != nil {
			return nil, err
		}
		nss = []netns.Namespace{n}
	default:
		n, err := d.ByPID(s.PID)
		if err != nil {
			return nil, err
		}
		nss = []netns.Namespace{n}
	}
	out := make([]Target, len(nss))
	for i := range nss {
		n := nss[i]
		out[i] = Target{NS: &n, Obs: paths.ObserverIn(&n)}
	}
	return out, nil
}

// JudgeAll takes the window of every target in step — one sample of each,
// then the interval — and judges each. A namespace that vanishes or cannot
// be read while sampling has its error in Err and no judgement. depth is
// observe.Full to dump every namespace, or observe.Checked to dump only
// those whose pre-check or rules call for it (each snapshot's Precheck
// says which and why).
func JudgeAll(targets []Target, set *policies.Set, samples int, interval time.Duration, depth observe.Depth, progress func(done, total int)) []TargetJudgement {
	ask := RulesAsk(func() *policies.Set { return set })
	for _, t := range targets {
		t.Obs.SetAsker(ask)
	}
	windows := make([][]advisor.Snapshot, len(targets))
	errs := make([]error, len(targets))
	for i := range max(samples, 1) {
		if i > 0 {
			time.Sleep(interval)
		}
		sideBySide(len(targets), func(t int) {
			if errs[t] != nil {
				return
			}
			s, err := targets[t].Obs.Observe(depth)
			if err != nil {
				errs[t] = err
				return
			}
			windows[t] = append(windows[t], s)
		})
		if progress != nil {
			progress(i+1, max(samples, 1))
		}
	}
	out := make([]TargetJudgement, len(targets))
	sideBySide(len(targets), func(t int) {
		out[t] = TargetJudgement{Target: targets[t], Err: errs[t]}
		if errs[t] == nil && len(windows[t]) == 0 {
			out[t].Err = errors.New("no sample")
		}
		if out[t].Err != nil {
			return
		}
		w := windows[t]
		out[t].Window = w
		out[t].Judgement = Judgement{Last: w[len(w)-1], Findings: OneShotHistory(w).Analyze()}
		out[t].Recs, out[t].Diags = set.Evaluate(out[t].Last, out[t].Findings)
	})
	return out
}

// WorstFirst orders judgements of several namespaces for a person: the
// worst level first (critical, warning, info, ok), namespaces that could
// not be judged last, discovery order (host, named, by inode) within each.
func WorstFirst(js []TargetJudgement) {
	type ranked struct {
		rank int
		j    TargetJudgement
	}
	rs := make([]ranked, len(js))
	for i, j := range js {
		rs[i] = ranked{rank: -1, j: j}
		if j.Err == nil {
			rs[i].rank = j.Level().Rank()
		}
	}
	slices.SortStableFunc(rs, func(a, b ranked) int { return b.rank - a.rank })
	for i, r := range rs {
		js[i] = r.j
	}
}

// sideBySide calls fn for 0 ≤ i < n, two calls per CPU at a time, and
// returns when all have: one namespace's dump can take a while (it walks
// the shared socket table), and the quiet ones are read and judged
// meanwhile (their reads wait on the kernel as much as they run).
func sideBySide(n int, fn func(i int)) {
	var wg sync.WaitGroup
	slots := make(chan struct{}, 2*runtime.GOMAXPROCS(0))
	for i := range n {
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			fn(i)
		})
	}
	wg.Wait()
}

// TargetJudgement is one namespace's judgement, or why there is none.
type TargetJudgement struct {
	Target
	Judgement
	// Window is the snapshots judged, oldest first.
	Window []advisor.Snapshot
	Err    error
}

// OneShotHistory is the history of a one-shot command's window: every
// sample, each a full dump.
func OneShotHistory(window []advisor.Snapshot) *advisor.History {
	h := &advisor.History{Recent: len(window), Details: len(window)}
	for _, s := range window {
		h.Add(s, true)
	}
	return h
}

// Series is the target's window as a recorded series, judged as it was.
func (j TargetJudgement) Series() record.Series {
	s := record.Series{Window: record.Window{Recent: len(j.Window), Details: len(j.Window)}}
	if j.NS != nil {
		s.Netns, s.Host = advisor.Netns{Inode: j.NS.Inode, Name: j.NS.Name}, j.NS.Host
	} else if len(j.Window) > 0 {
		s.Host = j.Window[0].Sysctls.InitialNamespace()
	}
	for _, snap := range j.Window {
		s.Frames = append(s.Frames, record.Frame{Detail: true, Snapshot: snap})
	}
	return s
}
