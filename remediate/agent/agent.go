// Package agent runs tcp-advisor's pipeline — observe, analyze,
// evaluate the policies, plan, apply, report — for the long-running agent
// (Agent) and for the one-shot commands (Session, Plan).
//
// The agent ticks every interval and reports through typed events
// (advisor/event), each emitted once to the sink the wiring gives each
// namespace (Sinks), and sd_notify. Signals drive it from outside: a reload re-compiles the
// policies (a set that fails to compile leaves the last good one in force), a
// stop ends it between ticks and never rolls anything back.
package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/advisor/event"
	"github.com/tcp-advisor/tcp-advisor/advisor/netns"
	"github.com/tcp-advisor/tcp-advisor/advisor/observe"
	"github.com/tcp-advisor/tcp-advisor/policies"
	"github.com/tcp-advisor/tcp-advisor/remediate"
)

// Observer takes snapshots; *observe.Observer is one.
type Observer interface {
	Observe(depth observe.Depth) (advisor.Snapshot, error)
}

// Sinks gives the sink of the events about network namespace ns: nil is
// the namespace the agent runs in when it watches no other, and the
// events of no namespace. The wiring fans each out to the journal
// (systemd.JournalSink) and the metrics (metrics.Metrics.SinkIn).
type Sinks func(ns *netns.Namespace) event.Sink

// Notifier tells the service manager how the agent is; *systemd.Notifier is
// one, and a no-op outside systemd.
type Notifier interface {
	Ready() error
	Status(line string) error
	Watchdog() error
	Reloading() error
	Stopping() error
}

// Config holds what the command line sets. Zero values defer to the policy.
type Config struct {
	PolicyPaths []string
	// Mode overrides the policy's mode when set.
	Mode advisor.Mode
	// Interval overrides the policy's interval when set.
	Interval time.Duration
	// DetailEvery is how often a tick also dumps CLOSE_WAIT and LISTEN
	// sockets; default one minute.
	DetailEvery time.Duration
	// Watchdog is how often to ping the watchdog; zero disables it.
	Watchdog time.Duration
	// Metrics, when set, is published after each tick; the figures and
	// actions it exports come to it as events, through Sinks.
	Metrics Metrics
	// AllNamespaces watches every network namespace of the host, found
	// anew each tick, not only the one the agent runs in. Paths and
	// StateDir are then where to find the kernel's files and keep each
	// namespace's state.
	AllNamespaces bool
	Paths         observe.Paths
	StateDir      string
	// Version is the running build's version, journalled when the agent
	// starts.
	Version string
	// FlightRecorder is how far back the flight recorder keeps frames in
	// each namespace's state directory, in at most FlightRecorderBytes;
	// zero turns it off.
	FlightRecorder      time.Duration
	FlightRecorderBytes int64
}

// Agent runs the loop. Create it with New.
type Agent struct {
	cfg   Config
	sinks Sinks
	// sink receives the events that belong to no namespace: journal and
	// metrics.
	sink   event.Sink
	notify Notifier
	now    func() time.Time
	set    *policies.Set
	// own watches the namespace the agent runs in; with AllNamespaces,
	// watches holds every namespace by inode (own among them).
	own        *watch
	watches    map[uint64]*watch
	discoverer *netns.Discoverer
	applied    int
	ready      bool
	// metricsFailing is set while the metrics cannot be published.
	metricsFailing bool
	// ticks are the tick figures Health reports.
	ticks tickFigures
	// host names the host in recordings.
	host string
}

// New returns an agent working on the session's state and sysctls, whose
// events go to sinks. It loads the policies and checks the state belongs
// to this network namespace: an agent that cannot do either does not
// start.
func New(cfg Config, obs Observer, session *Session, sinks Sinks, notify Notifier) (*Agent, error) {
	if cfg.DetailEvery <= 0 {
		cfg.DetailEvery = time.Minute
	}
	a := &Agent{cfg: cfg, sinks: sinks, sink: sinks(nil), notify: notify, now: time.Now}
	// What the session does on the agent's behalf (moving a state aside)
	// goes to the agent's sink.
	session.events = a.sink
	a.own = newWatch(nil, obs, session, sinks)
	a.host, _ = os.Hostname()
	a.fly(a.own)
	if err := session.CheckNamespace(); err != nil {
		return nil, err
	}
	if cfg.AllNamespaces {
		a.discoverer = netns.NewDiscoverer(cfg.Paths.Proc, cfg.Paths.Netns)
		a.watches = map[uint64]*watch{}
	}
	if err := a.loadPolicies(); err != nil {
		return nil, err
	}
	a.stateProblem(a.own)
	return a, nil
}

// Mode returns the mode in force: the flag's, else the policy's.
func (a *Agent) Mode() advisor.Mode {
	if a.cfg.Mode != "" {
		return a.cfg.Mode
	}
	return a.set.Settings.Mode
}

// Interval returns the tick interval in force.
func (a *Agent) Interval() time.Duration {
	if a.cfg.Interval > 0 {
		return a.cfg.Interval
	}
	return a.set.Settings.Interval
}

// loadPolicies compiles the policy set; on failure it logs every diagnostic
// and keeps the set in force.
func (a *Agent) loadPolicies() error {
	set, diags := policies.Load(a.cfg.PolicyPaths...)
	if diags.HasErrors() {
		var rejected event.PolicyRejected
		for _, d := range diags {
			if d.Severity != hcl.DiagError {
				continue
			}
			rejected.Problems = append(rejected.Problems, policyProblem(d))
		}
		a.sink.Emit(rejected)
		return fmt.Errorf("policies did not compile (%d errors)", len(diags.Errs()))
	}
	for _, d := range diags {
		if d.Severity == hcl.DiagWarning {
			a.sink.Emit(event.PolicyWarning{Summary: d.Summary, Detail: d.Detail})
		}
	}
	if err := a.checkEnforceable(set); err != nil {
		return err
	}
	a.set = set
	persist := ""
	if set.Settings.Persist {
		persist = set.Settings.PersistPath
	}
	a.own.session.persistTo(persist)
	if note := a.own.session.PersistNote; note != "" {
		a.sink.Emit(event.PersistNotWritten{Why: note})
	}
	a.sink.Emit(event.PolicyLoaded{Description: set.Describe(), Files: set.Files, Checksum: set.Checksum(),
		Mode: a.Mode(), Interval: a.Interval()})
	return nil
}

// checkEnforceable refuses a set that puts the agent in enforce mode where
// this process may not write the sysctls the set's rules change: rather
// than fail every tick, the agent does not start, or a reload keeps the set
// in force. The refusal is an EnforceRefused event, logged at priority
// err.
func (a *Agent) checkEnforceable(set *policies.Set) error {
	mode := a.cfg.Mode
	if mode == "" {
		mode = set.Settings.Mode
	}
	if mode != advisor.ModeEnforce {
		return nil
	}
	err := a.own.session.Applier.Sysctls.CheckWritable(enforcedKeys(set)...)
	if err == nil {
		return nil
	}
	refused := event.EnforceRefused{Mode: mode, Err: err}
	// At start the error is the agent's exit message; on a reload the
	// agent goes on, and the event is where it says why.
	if a.set != nil {
		a.sink.Emit(refused)
	}
	return refused
}

// enforcedKeys are the sysctls the set's rules may change, with the
// reserved ports that widening the port range writes first.
func enforcedKeys(set *policies.Set) []string {
	var keys []string
	for _, r := range set.Rules {
		for _, k := range r.Keys {
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	if slices.Contains(keys, advisor.KeyPortRange) && !slices.Contains(keys, advisor.KeyReservedPorts) {
		keys = append(keys, advisor.KeyReservedPorts)
	}
	return keys
}

// Run ticks until ctx ends. A value on reload re-compiles the policies.
func (a *Agent) Run(ctx context.Context, reload <-chan struct{}) error {
	ticker := time.NewTicker(a.Interval())
	defer ticker.Stop()
	var watchdog <-chan time.Time
	if a.cfg.Watchdog > 0 {
		t := time.NewTicker(a.cfg.Watchdog)
		defer t.Stop()
		watchdog = t.C
	}
	a.Tick()
	for {
		select {
		case <-ctx.Done():
			_ = a.notify.Stopping()
			a.sink.Emit(event.AgentStopping{})
			return nil
		case <-reload:
			a.Reload()
			ticker.Reset(a.Interval())
		case <-ticker.C:
			a.Tick()
		case <-watchdog:
			// The loop itself pings: a stuck tick stops the pings and
			// systemd restarts the service.
			_ = a.notify.Watchdog()
		}
	}
}

// Reload re-compiles the policies between ticks.
func (a *Agent) Reload() {
	_ = a.notify.Reloading()
	err := a.loadPolicies()
	a.sink.Emit(event.Reloaded{Policy: a.set.Describe(), Mode: a.Mode(), Err: err})
	_ = a.notify.Ready()
}

// Tick runs one observe → analyze → evaluate → plan → apply round in each
// namespace it watches.
func (a *Agent) Tick() {
	start := time.Now()
	ws := a.targets()
	for _, w := range ws {
		a.tickIn(w)
	}
	a.metricsFlush()
	took := time.Since(start)
	a.tickDone(took)
	_ = a.notify.Status(a.statusLine(ws, took))
	if !a.ready {
		a.ready = true
		_ = a.notify.Ready()
		a.sink.Emit(event.AgentStarted{Version: a.cfg.Version, Mode: a.Mode(), Interval: a.Interval()})
	}
}

// tickIn runs the round in one namespace. Changes are applied only in
// enforce mode, and, watching every namespace, only where the policy's
// enforce_namespaces names the namespace.
func (a *Agent) tickIn(w *watch) {
	start := time.Now()
	now := a.now()
	depth := observe.Quiet
	if now.Sub(w.lastDump) >= a.cfg.DetailEvery {
		depth = observe.Detail
	}
	snap, err := w.obs.Observe(depth)
	w.observed = err == nil
	if err != nil {
		a.tickEnded(w, snap, advisor.Findings{}, start, err)
		return
	}
	if depth == observe.Detail {
		w.lastDump = now
	}
	a.noteDegraded(w, snap.Degraded)
	a.noteConnectFailures(w, snap)
	w.history.Add(snap, depth == observe.Detail)
	a.recordFrame(w, snap, depth == observe.Detail)
	findings := w.history.Analyze()
	w.findings = findings

	// The snapshot has just read every managed key's live value. The
	// state is read again: another process may have changed it.
	enforce := a.Mode() == advisor.ModeEnforce && (!a.cfg.AllNamespaces || enforceable(w.ns, a.set.Settings.EnforceNamespaces))
	released, err := w.session.Applier.ReleaseChangedKeysIn(w.session.State, snap.Sysctls)
	a.noteRollbacks(w, enforce)
	for _, r := range released {
		w.sink.Emit(keyReleased(r))
	}
	var se *remediate.StoreError
	switch {
	case errors.As(err, &se):
		a.storeFailed(w, err, "")
	case err != nil:
		w.sink.Emit(event.ManagedKeysUnchecked{Err: err})
	}

	// A rule that fails to evaluate is skipped; the others still act.
	recs, diags := a.set.Evaluate(snap, findings)
	plan := remediate.Planner{Set: a.set, State: w.session.State, Now: now}.Build(snap, recs)
	if w.ns != nil && !w.ns.Host {
		plan = plan.WithPlatform(w.ns.Container)
	}
	recording := a.criticalStarted(w, plan, now)
	a.report(w, plan, findings, diags, enforce, recording)
	ruleFired(w.sink, recs)
	if enforce && len(plan.Changes) > 0 && a.storeUsable(w) {
		a.apply(w, a.withoutBackedOff(w, plan), findings, recording)
	}
	a.tickEnded(w, snap, findings, start, nil)
}
