package observe

import (
	"time"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/advisor/netns"
)

// EventSource answers what the kernel's connection events counted after a
// time: package connevents' Ledger. One source serves every namespace.
type EventSource interface {
	// Events is what happened in the network namespace with cookie
	// netns (netns.ThreadCookie; a freed namespace's inode is the next
	// one's, its cookie never).
	Events(netns uint64, since time.Time) (advisor.ConnEvents, error)
	// NetnsTotals is the totals of every namespace, by cookie, that had
	// events.
	NetnsTotals(since time.Time) (map[uint64]advisor.ConnTotals, error)
}

// Events is the connection-event source observers read, or why there is
// none: "kernel events unavailable: REASON".
type Events struct {
	Source      EventSource
	Unavailable string
}

// NetnsTotals returns, for every network namespace (by cookie, as
// advisor.Netns has it) with
// connection events after since, its totals of connect() calls, calls that
// found no local port and active closes: a figure of which namespaces open
// connections that costs no socket dump, whatever the number of
// namespaces. ok is false where the events are unavailable (then
// e.Unavailable says why) or could not be read.
func (e Events) NetnsTotals(since time.Time) (totals map[uint64]advisor.ConnTotals, ok bool) {
	if e.Source == nil {
		return nil, false
	}
	totals, err := e.Source.NetnsTotals(since)
	return totals, err == nil
}

// WithEvents makes o read the kernel's connection events with each
// snapshot, or note in it why they are unavailable. It returns o.
func (o *Observer) WithEvents(ev Events) *Observer {
	o.events = ev
	return o
}

// readEvents reads the events of the namespace the calling thread is in
// since the observer's last snapshot (the first one takes what the source
// kept). A failing source leaves the snapshot without events and says so.
func (o *Observer) readEvents(snap *advisor.Snapshot) {
	if o.events.Source == nil {
		snap.EventsUnavailable = o.events.Unavailable
		return
	}
	cookie, err := netns.ThreadCookie()
	if err == nil {
		var ev advisor.ConnEvents
		if ev, err = o.events.Source.Events(cookie, o.eventsSince); err == nil {
			o.eventsSince = ev.Until
			snap.Events = &ev
			return
		}
	}
	snap.EventsUnavailable = "kernel events unavailable: " + err.Error()
}
