package agent

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tcp-advisor/tcp-advisor/advisor/sysctl"
	"github.com/tcp-advisor/tcp-advisor/remediate"
	"github.com/tcp-advisor/tcp-advisor/systemd"
)

// Back-off after failures. A key whose write fails (EINVAL, EACCES, EROFS,
// or a different read-back) is left alone for backoffBase, then twice as
// long after each further failure, up to backoffMax; a success ends it. A
// failing state store is probed on the same schedule. Only the first
// failure is logged; `systemctl status` shows what is backing off.
const (
	backoffBase = time.Minute
	backoffMax  = time.Hour
)

// Health is how the agent is doing, for a metrics collector and for tests.
// Agent.Health builds it.
type Health struct {
	// StateStoreOK is false while the state file cannot be read or
	// written; nothing is applied meanwhile. StateStoreError says why.
	StateStoreOK    bool
	StateStoreError string
	// BackingOff lists the keys whose last write failed, sorted.
	BackingOff []string
	// Degraded lists the observation fallbacks in use in the last tick.
	Degraded []string
	// Ticks counts completed ticks; LastTick and MaxTick are their
	// durations (monotonic clock).
	Ticks    uint64
	LastTick time.Duration
	MaxTick  time.Duration
}

// backoff is one failing key's or the store's schedule.
type backoff struct {
	failures int
	until    time.Time // monotonic reading: in-process only
}

// fail counts a failure at now and returns how long to wait.
func (b *backoff) fail(now time.Time) time.Duration {
	b.failures++
	d := backoffBase << min(b.failures-1, 10)
	d = min(d, backoffMax)
	b.until = now.Add(d)
	return d
}

// tickFigures are the agent's tick count and durations, for Health.
type tickFigures struct {
	count     uint64
	last, max time.Duration
}

// watchHealth is one watched namespace's: its state store, its keys backing
// off, its observation fallbacks. Everything that reads or writes it runs
// on the agent's tick goroutine.
type watchHealth struct {
	store    *storeFailure // nil while the store works
	keys     map[string]*backoff
	degraded []string
	// flightFailing is set while the flight recorder cannot write.
	flightFailing bool
}

// storeFailure is a failing state store: why, and when to probe it again.
type storeFailure struct {
	err error
	backoff
}

// problems returns the namespace's health with label before each entry:
// the state store's error ("" while it works), the keys backing off,
// sorted, and the observation fallbacks.
func (wh *watchHealth) problems(label string) (store string, backingOff, degraded []string) {
	if wh.store != nil {
		store = label + wh.store.err.Error()
	}
	for k := range wh.keys {
		backingOff = append(backingOff, label+k)
	}
	slices.Sort(backingOff)
	for _, d := range wh.degraded {
		degraded = append(degraded, label+d)
	}
	return store, backingOff, degraded
}

// label names w in Health and the status line: "" for the namespace the
// agent runs in and the host's, else the namespace's name and a colon.
func (a *Agent) label(w *watch) string {
	if w == a.own || w.ns.Host {
		return ""
	}
	return w.ns.String() + ": "
}

// Health returns the agent's health, over every namespace it watches
// (entries of other namespaces than its own are prefixed with the
// namespace).
func (a *Agent) Health() Health {
	h := a.healthOf(a.allWatches())
	h.Ticks, h.LastTick, h.MaxTick = a.ticks.count, a.ticks.last, a.ticks.max
	return h
}

// healthOf is Health over the watches ws, without the tick figures.
func (a *Agent) healthOf(ws []*watch) Health {
	h := Health{StateStoreOK: true, BackingOff: []string{}}
	var errs []string
	for _, w := range ws {
		store, backingOff, degraded := w.health.problems(a.label(w))
		if store != "" {
			h.StateStoreOK = false
			errs = append(errs, store)
		}
		h.BackingOff = append(h.BackingOff, backingOff...)
		h.Degraded = append(h.Degraded, degraded...)
	}
	h.StateStoreError = strings.Join(errs, "; ")
	slices.Sort(h.BackingOff)
	return h
}

// allWatches returns the agent's own watch and those of the other
// namespaces it watches.
func (a *Agent) allWatches() []*watch {
	ws := []*watch{a.own}
	for _, w := range a.watches {
		if w != a.own {
			ws = append(ws, w)
		}
	}
	return ws
}

// tickDone records a tick's duration.
func (a *Agent) tickDone(d time.Duration) {
	a.ticks.count++
	a.ticks.last = d
	a.ticks.max = max(a.ticks.max, d)
}

// storeFailed marks w's state store failing; the first failure is logged,
// with what it kept from being applied.
func (a *Agent) storeFailed(w *watch, err error, what string) {
	now := a.now()
	f := w.health.store
	first := f == nil
	if first {
		f = &storeFailure{}
		w.health.store = f
	}
	f.err = err
	wait := f.fail(now)
	if !first {
		return
	}
	msg := fmt.Sprintf("state store failing: %v; nothing is applied until it works again (retrying in %s, then less and less often, up to every %s); observing goes on", err, wait, backoffMax)
	if what != "" {
		msg += "; " + what
	}
	a.eventIn(w, systemd.EventStateStore, msg, map[string]string{
		systemd.FieldReason: err.Error(), systemd.FieldStateFile: w.session.Applier.Store.Path(),
	})
}

// storeRecovered marks w's state store working again and logs it.
func (a *Agent) storeRecovered(w *watch) {
	was := w.health.store
	w.health.store = nil
	if was == nil {
		return
	}
	path := w.session.Applier.Store.Path()
	_ = w.log.Log(systemd.Event{Kind: systemd.EventStateStore, Priority: systemd.PriorityNotice,
		Message: "state store works again: " + path + " can be written; applying resumes",
		Fields:  map[string]string{systemd.FieldReason: "recovered from: " + was.err.Error(), systemd.FieldStateFile: path}})
}

// storeUsable reports whether this tick may apply. While the store fails,
// a probe runs when its back-off has passed: a state file that could not
// be read is read again (an operator may have run rollback or restored
// it) and checked as at start; otherwise the state is saved again. A probe
// that works ends the failure.
func (a *Agent) storeUsable(w *watch) bool {
	f := w.health.store
	if f == nil {
		return true
	}
	if a.now().Before(f.until) {
		return false
	}
	store := w.session.Applier.Store
	if store.Blocked() != nil {
		if err := w.session.reload(); err != nil {
			a.storeFailed(w, err, "")
			return false
		}
	} else if err := saveFresh(store, w.session.State); err != nil {
		a.storeFailed(w, err, "")
		return false
	}
	a.storeRecovered(w)
	return true
}

// withoutBackedOff drops from plan every group that holds a key still
// backing off; a group applies whole or not at all.
func (a *Agent) withoutBackedOff(w *watch, plan remediate.Plan) remediate.Plan {
	now := a.now()
	if len(w.health.keys) == 0 {
		return plan
	}
	var keep []remediate.Change
	for _, g := range plan.Groups() {
		if !slices.ContainsFunc(g, func(c remediate.Change) bool {
			b, ok := w.health.keys[c.Key]
			return ok && now.Before(b.until)
		}) {
			keep = append(keep, g...)
		}
	}
	plan.Changes = keep
	return plan
}

// sortFailures splits an Apply's failures: write failures back their key
// off (logged the first time only), store failures mark the store failing
// (logged once); the rest are returned to be logged as usual.
func (a *Agent) sortFailures(w *watch, applied []remediate.Applied, failed []remediate.Failure) []remediate.Failure {
	now := a.now()
	var rest []remediate.Failure
	var storeErr error
	var notApplied []string
	for _, fl := range failed {
		var se *remediate.StoreError
		if errors.As(fl.Err, &se) {
			if storeErr == nil {
				storeErr = fl.Err
			}
			for _, c := range fl.Changes {
				notApplied = append(notApplied, c.Key+"="+fmt.Sprintf("%q", c.To))
			}
			var ae *remediate.AppliedError
			if errors.As(fl.Err, &ae) {
				rest = append(rest, fl) // live already: say so per key
			}
			continue
		}
		var we *sysctl.WriteError
		if !errors.As(fl.Err, &we) {
			rest = append(rest, fl)
			continue
		}
		if w.health.keys == nil {
			w.health.keys = map[string]*backoff{}
		}
		b, seen := w.health.keys[we.Key]
		if !seen {
			b = &backoff{}
			w.health.keys[we.Key] = b
		}
		wait := b.fail(now)
		if seen {
			continue
		}
		fl.Err = fmt.Errorf("%w; leaving %s alone for %s, then twice as long after each further failure (up to %s), logged once", fl.Err, we.Key, wait, backoffMax)
		rest = append(rest, fl)
	}
	// One failing store is one failure, however many groups it kept back:
	// its back-off doubles once per tick.
	if storeErr != nil {
		a.storeFailed(w, storeErr, "not applied: "+strings.Join(notApplied, ", "))
	}
	for _, c := range applied {
		delete(w.health.keys, c.Key)
	}
	return rest
}

// healthLine is the part of the status line about problems in the
// namespaces of the tick, ws; "" when none.
func (a *Agent) healthLine(ws []*watch) string {
	h := a.healthOf(ws)
	var parts []string
	if !h.StateStoreOK {
		parts = append(parts, "STATE STORE FAILING, nothing applied: "+h.StateStoreError)
	}
	if len(h.BackingOff) > 0 {
		parts = append(parts, "backing off "+strings.Join(h.BackingOff, ","))
	}
	if len(h.Degraded) > 0 {
		parts = append(parts, "degraded: "+strings.Join(h.Degraded, "; "))
	}
	return strings.Join(parts, "; ")
}

// noteDegraded records the tick's observation fallbacks in w and logs
// each one as it starts and as it ends.
func (a *Agent) noteDegraded(w *watch, now []string) {
	before := w.health.degraded
	w.health.degraded = slices.Clone(now)
	for _, d := range now {
		if !slices.Contains(before, d) {
			a.eventIn(w, systemd.EventObservationDegraded, "observation degraded: "+d, map[string]string{systemd.FieldReason: d})
		}
	}
	if len(before) > 0 && len(now) == 0 {
		_ = w.log.Log(systemd.Event{Kind: systemd.EventObservationDegraded, Priority: systemd.PriorityNotice,
			Message: "observation works fully again (was: " + strings.Join(before, "; ") + ")",
			Fields:  map[string]string{systemd.FieldReason: "recovered"}})
	}
}

// stateProblem starts w with its state store failing when its state file
// could not be read: the agent observes and reports, and applies nothing
// there until the file is fixed.
func (a *Agent) stateProblem(w *watch) {
	if w.session.Problem() != nil {
		a.storeFailed(w, w.session.Problem(), "`tcp-advisor status` explains; `tcp-advisor rollback` restores what was salvaged and moves a corrupt file aside")
	}
}

// saveFresh saves the state under the store's lock, as read again under
// it: the probe never writes an old copy over another process's records.
func saveFresh(store *remediate.Store, st *remediate.State) error {
	_, unlock, err := store.Lock(st)
	if err != nil {
		return err
	}
	defer unlock()
	return store.Save(st)
}
