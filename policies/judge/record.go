package judge

import (
	"fmt"
	"time"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/advisor/observe"
	"github.com/tcp-advisor/tcp-advisor/advisor/record"
)

// Record observes the targets as the agent does — every interval for d,
// dumping CLOSE_WAIT, FIN_WAIT2 and LISTEN sockets every detailEvery, and
// every socket when the pre-check calls for it — and returns one series
// per target with the agent's window, so that a replay judges it as the
// agent would have. here names the namespace this process runs in. A
// target that fails (a namespace that vanished) stops being observed: its
// series keeps what it had, and its error, nil otherwise, is at its index.
func Record(targets []Target, here advisor.Netns, d, interval, detailEvery time.Duration, progress func(done, total int)) ([]record.Series, []error) {
	out := make([]record.Series, len(targets))
	failed := make([]error, len(targets))
	last := make([]time.Time, len(targets))
	for t, tg := range targets {
		out[t] = record.Series{Netns: here, Window: record.AgentWindow, Frames: []record.Frame{}}
		if tg.NS != nil {
			out[t].Netns, out[t].Host = advisor.Netns{Inode: tg.NS.Inode, Name: tg.NS.Name}, tg.NS.Host
		}
	}
	n := int(d/interval) + 1
	start := time.Now()
	for i := range n {
		if i > 0 {
			time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
		}
		for t, tg := range targets {
			if failed[t] != nil {
				continue
			}
			now := time.Now()
			depth := observe.Quiet
			if last[t].IsZero() || now.Sub(last[t]) >= detailEvery {
				depth = observe.Detail
			}
			snap, err := tg.Obs.Observe(depth)
			if err != nil {
				failed[t] = fmt.Errorf("namespace %s: %w", out[t].Netns, err)
				continue
			}
			if depth == observe.Detail {
				last[t] = now
			}
			if tg.NS == nil && i == 0 {
				out[t].Host = snap.Sysctls.InitialNamespace()
			}
			out[t].Frames = append(out[t].Frames, record.Frame{Detail: depth == observe.Detail, Snapshot: snap})
		}
		if progress != nil {
			progress(i+1, n)
		}
	}
	return out, failed
}
