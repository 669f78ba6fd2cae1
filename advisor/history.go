package advisor

// History is the window of snapshots a judgement reads, kept as the agent
// keeps it: the latest Recent snapshots, for rates and per-destination
// growth, and the latest Details snapshots taken at the slower detail
// cadence, whose CLOSE_WAIT dumps make a socket "stuck" only when it stays
// for minutes. Both are short, so memory stays bounded however large the
// socket table. The agent, the one-shot commands and a replayed recording
// all judge through a History, so a replay reproduces the live judgement.
type History struct {
	// Recent and Details are how many snapshots of each kind are kept.
	Recent, Details int
	recent, details []Snapshot
}

// The agent's window: six ticks for rates, and three CLOSE_WAIT dumps
// (about two minutes at the default detail cadence) for leaks.
const (
	AgentRecent  = 6
	AgentDetails = 3
)

// Add appends a snapshot, oldest first. detail marks a snapshot taken at
// the detail cadence; it joins the CLOSE_WAIT history only when its dump
// included CLOSE_WAIT.
func (h *History) Add(s Snapshot, detail bool) {
	h.recent = keepLast(append(h.recent, s), h.Recent)
	if detail && s.Sockets != nil && s.Sockets.Dumped.Has(CloseWait) {
		h.details = keepLast(append(h.details, s), h.Details)
	}
}

// Len is how many snapshots the window holds.
func (h *History) Len() int { return len(merge(h.details, h.recent)) }

// Analyze derives the findings of the window; the history must hold at
// least one snapshot.
func (h *History) Analyze() Findings {
	return AnalyzeWithDumps(merge(h.details, h.recent), h.details)
}

// keepLast returns the last n snapshots of s (all of them when n < 1).
func keepLast(s []Snapshot, n int) []Snapshot {
	if n > 0 && len(s) > n {
		return append(s[:0:0], s[len(s)-n:]...)
	}
	return s
}

// merge returns the snapshots of a and b in time order, each once.
func merge(a, b []Snapshot) []Snapshot {
	out := make([]Snapshot, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || (i < len(a) && a[i].Time.Before(b[j].Time)):
			out = append(out, a[i])
			i++
		case i == len(a) || b[j].Time.Before(a[i].Time):
			out = append(out, b[j])
			j++
		default: // the same snapshot in both
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}
