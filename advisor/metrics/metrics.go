// Package metrics exports what tcp-advisor observes and does as Prometheus
// metrics: the findings of each tick (sockets by state, per-destination port
// use, CLOSE_WAIT by owner, the sysctls), the agent's actions
// (recommendations, changes, refusals), its tick health and the policy set
// in force. One registry feeds both outputs, so they expose the same
// families: a file for node_exporter's textfile collector (WriteTextfile)
// and an HTTP endpoint (Handler, Listen).
//
// Every family is named tcp_advisor_*, the Go runtime and process
// collectors' too (tcp_advisor_go_*, tcp_advisor_process_*): node_exporter
// exports go_* and process_* of its own, and a textfile holding the same
// names would break its scrape.
//
// The package reads advisor types only; the agent feeds it plain values.
package metrics

import (
	"maps"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/advisor/event"
)

// DefaultTopN is how many destinations and CLOSE_WAIT owners get series of
// their own unless Options say otherwise.
const DefaultTopN = 10

// Other is the label value of the series that sums what the top N leave out.
const Other = "other"

// Outcomes of a change, the outcome label of tcp_advisor_changes_total.
const (
	OutcomeApplied = "applied"
	OutcomeFailed  = "failed"
)

// Options configure New.
type Options struct {
	// TopN caps the destinations and CLOSE_WAIT owners that get series of
	// their own; the rest add up in one series labelled Other. Zero means
	// DefaultTopN.
	TopN int
	// Textfile, when set, is the file Flush writes (see WriteTextfile).
	Textfile string
	// Version and Revision name the running build in
	// tcp_advisor_build_info, with the Go release that built it.
	Version, Revision string
}

// Metrics collects the agent's metrics. Its methods are safe for concurrent
// use: the HTTP endpoint gathers while the agent ticks.
type Metrics struct {
	reg      *prometheus.Registry
	textfile string
	tick     *tickCollector

	recommendations *prometheus.CounterVec
	changes         *prometheus.CounterVec
	refusals        *prometheus.CounterVec
	tickDuration    *prometheus.GaugeVec
	tickSuccess     *prometheus.GaugeVec
	lastSuccess     *prometheus.GaugeVec
	stateStoreOK    *prometheus.GaugeVec
	backoff         *prometheus.GaugeVec
	degraded        *prometheus.GaugeVec
	interval        prometheus.Gauge
	policyInfo      *prometheus.GaugeVec
	policyLoad      prometheus.Gauge
	connectFailures *prometheus.CounterVec
	opens           *prometheus.CounterVec
	eventsAvailable *prometheus.GaugeVec
	eventsOverflow  prometheus.Counter
	// overflowMu guards overflowSeen, the largest OverflowTotal counted:
	// namespaces' ticks may carry the same host-wide total, and in any
	// order.
	overflowMu   sync.Mutex
	overflowSeen uint64
}

// New returns a collector with its own registry, the Go runtime and process
// collectors registered under the tcp_advisor_ prefix.
func New(opts Options) *Metrics {
	if opts.TopN <= 0 {
		opts.TopN = DefaultTopN
	}
	reg := prometheus.NewRegistry()
	m := &Metrics{reg: reg, textfile: opts.Textfile, tick: newTickCollector(opts.TopN)}
	counter := func(f family) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: f.fqName(), Help: f.help}, f.labels)
	}
	gauge := func(f family) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: f.fqName(), Help: f.help})
	}
	m.recommendations = counter(famRecommendations)
	m.changes = counter(famChanges)
	m.refusals = counter(famRefusals)
	gaugeVec := func(f family) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: f.fqName(), Help: f.help}, f.labels)
	}
	m.tickDuration = gaugeVec(famTickDuration)
	m.tickSuccess = gaugeVec(famTickSuccess)
	m.lastSuccess = gaugeVec(famLastSuccess)
	m.stateStoreOK = gaugeVec(famStateStoreOK)
	m.backoff = gaugeVec(famBackoff)
	m.degraded = gaugeVec(famDegraded)
	m.interval = gauge(famInterval)
	m.policyInfo = gaugeVec(famPolicyInfo)
	m.policyLoad = gauge(famPolicyLoad)
	m.connectFailures = counter(famConnectFailures)
	m.opens = counter(famOpens)
	m.eventsAvailable = gaugeVec(famEventsAvailable)
	m.eventsOverflow = prometheus.NewCounter(prometheus.CounterOpts{Name: famEventsOverflow.fqName(), Help: famEventsOverflow.help})
	buildInfo := gaugeVec(famBuildInfo)
	buildInfo.WithLabelValues(opts.Version, opts.Revision, runtime.Version()).Set(1)
	reg.MustRegister(m.tick, m.recommendations, m.changes, m.refusals, m.tickDuration, m.tickSuccess,
		m.lastSuccess, m.stateStoreOK, m.backoff, m.degraded, m.interval, m.policyInfo, m.policyLoad, buildInfo,
		m.connectFailures, m.opens, m.eventsAvailable, m.eventsOverflow)
	prefixed := prometheus.WrapRegistererWithPrefix(Namespace+"_", reg)
	prefixed.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// ObserveTick records one tick in one network namespace, labelled netns
// and container (both "" for the agent's own namespace when it watches no
// other): the snapshot it observed, its findings, how long it took and
// whether it failed. A failed tick (err set) leaves the last observed
// values in place and sets tcp_advisor_tick_success to 0.
func (m *Metrics) ObserveTick(netns, container string, snap advisor.Snapshot, f advisor.Findings, took time.Duration, err error) {
	m.tickDuration.WithLabelValues(netns, container).Set(took.Seconds())
	m.tick.seen(netns, container)
	if err != nil {
		m.tickSuccess.WithLabelValues(netns, container).Set(0)
		return
	}
	m.tick.update(netns, container, snap, f)
	m.events(netns, container, snap)
	m.tickSuccess.WithLabelValues(netns, container).Set(1)
	m.lastSuccess.WithLabelValues(netns, container).SetToCurrentTime()
}

// events counts the snapshot's connection events, and says whether the
// kernel gives them. The counters start at 0 with the namespace's first
// tick, so a rate() sees the first failures.
func (m *Metrics) events(netns, container string, snap advisor.Snapshot) {
	switch {
	case snap.Events != nil:
		m.eventsAvailable.Reset()
		m.eventsAvailable.WithLabelValues("").Set(1)
		m.connectFailures.WithLabelValues(netns, container).Add(float64(snap.Events.Totals.Failures))
		m.opens.WithLabelValues(netns, container).Add(float64(snap.Events.Totals.Opens))
		m.overflow(snap.Events.OverflowTotal)
	case snap.EventsUnavailable != "":
		m.eventsAvailable.Reset()
		m.eventsAvailable.WithLabelValues(snap.EventsUnavailable).Set(0)
	}
}

// overflow raises kernel_events_overflow_total to total, the program's
// host-wide count, where it is more than what was counted already.
func (m *Metrics) overflow(total uint64) {
	m.overflowMu.Lock()
	defer m.overflowMu.Unlock()
	if total > m.overflowSeen {
		m.eventsOverflow.Add(float64(total - m.overflowSeen))
		m.overflowSeen = total
	}
}

// Health records how the agent fares in one network namespace after a
// tick: whether its state store works, the sysctls whose writes back off,
// and the observation fallbacks the tick needed.
func (m *Metrics) Health(netns, container string, stateStoreOK bool, backingOff, degraded []string) {
	ok := 0.0
	if stateStoreOK {
		ok = 1
	}
	m.stateStoreOK.WithLabelValues(netns, container).Set(ok)
	m.degraded.WithLabelValues(netns, container).Set(float64(len(degraded)))
	for _, reg := range advisor.Registry() {
		if reg.Settable {
			m.backoff.WithLabelValues(netns, container, reg.Name).Set(0)
		}
	}
	for _, key := range backingOff {
		m.backoff.WithLabelValues(netns, container, key).Set(1)
	}
}

// RuleSeries is what one rule of the policy set in force may count
// (event.RuleSeries, which the agent's tick events carry).
type RuleSeries = event.RuleSeries

// Known creates, at zero, the action counters each rule may increase in
// one network namespace, so they exist from the first scrape: a rate over
// a counter that appears only at its first increase misses that increase,
// and a dashboard panel with no series says "No data" on a healthy host.
func (m *Metrics) Known(netns string, rules []RuleSeries) {
	for _, r := range rules {
		for _, sev := range r.Severities {
			m.recommendations.WithLabelValues(netns, r.Rule, sev)
		}
		for _, key := range r.Keys {
			m.changes.WithLabelValues(netns, r.Rule, key, OutcomeApplied)
			m.changes.WithLabelValues(netns, r.Rule, key, OutcomeFailed)
			for _, g := range r.Guardrails[key] {
				m.refusals.WithLabelValues(netns, r.Rule, key, g)
			}
		}
	}
}

// Recommendation counts one recommendation of a rule at this tick.
func (m *Metrics) Recommendation(netns, rule, severity string) {
	m.recommendations.WithLabelValues(netns, rule, severity).Inc()
}

// Change counts one change the agent tried: outcome is OutcomeApplied or
// OutcomeFailed.
func (m *Metrics) Change(netns, rule, key, outcome string) {
	m.changes.WithLabelValues(netns, rule, key, outcome).Inc()
}

// Refusal counts one planned change a guardrail refused at this tick.
func (m *Metrics) Refusal(netns, rule, key, guardrail string) {
	m.refusals.WithLabelValues(netns, rule, key, guardrail).Inc()
}

// PolicyLoaded records a policy (re)load. When ok, the set with this
// checksum is in force, in mode, ticking every interval; otherwise the
// load failed and the previous set's series stay.
func (m *Metrics) PolicyLoaded(checksum, mode string, interval time.Duration, ok bool) {
	if !ok {
		m.policyLoad.Set(0)
		return
	}
	m.policyLoad.Set(1)
	m.policyInfo.Reset()
	m.policyInfo.WithLabelValues(checksum, mode).Set(1)
	m.interval.Set(interval.Seconds())
}

// Flush ends the agent's tick: the series of namespaces it no longer
// observed (gone since) are dropped, and the textfile named in Options, if
// any, is written.
func (m *Metrics) Flush() error {
	for _, k := range m.tick.prune() {
		m.tickDuration.DeleteLabelValues(k.netns, k.container)
		m.tickSuccess.DeleteLabelValues(k.netns, k.container)
		m.lastSuccess.DeleteLabelValues(k.netns, k.container)
		m.stateStoreOK.DeleteLabelValues(k.netns, k.container)
		m.degraded.DeleteLabelValues(k.netns, k.container)
		m.backoff.DeletePartialMatch(prometheus.Labels{"netns": k.netns, "container": k.container})
	}
	if m.textfile == "" {
		return nil
	}
	return m.WriteTextfile(m.textfile)
}

// Gatherer returns the registry behind both outputs.
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.reg }

// FamilyNames returns, sorted, every family this collector can export,
// whether or not it has a sample yet: the agent's own and those of the Go
// runtime and process collectors.
func (m *Metrics) FamilyNames() []string {
	var names []string
	for _, f := range slices.Concat(tickFamilies, actionFamilies) {
		names = append(names, f.fqName())
	}
	// The runtime collectors always have samples; the agent's families are
	// all in the tables.
	mfs, _ := m.reg.Gather()
	for _, mf := range mfs {
		if !slices.Contains(names, mf.GetName()) {
			names = append(names, mf.GetName())
		}
	}
	slices.Sort(names)
	return names
}

// tickCollector exports the latest tick's figures as constant metrics, so
// a series disappears as soon as its destination or owner leaves the top N.
type tickCollector struct {
	topN int
	mu   sync.Mutex
	// values are each namespace's latest successful tick; observed the
	// namespaces observed since the last prune.
	values   map[nsKey]*tickValues
	observed map[nsKey]bool
	// known are the namespaces with series of any kind.
	known map[nsKey]bool
}

// nsKey is a namespace's labels.
type nsKey struct{ netns, container string }

func newTickCollector(topN int) *tickCollector {
	return &tickCollector{topN: topN, values: map[nsKey]*tickValues{}, observed: map[nsKey]bool{}, known: map[nsKey]bool{}}
}

// tickDescs are the tick families' descriptors, by family name.
var tickDescs = func() map[string]*prometheus.Desc {
	out := map[string]*prometheus.Desc{}
	for _, f := range tickFamilies {
		out[f.name] = f.desc()
	}
	return out
}()

// Describe sends every tick family's descriptor.
func (c *tickCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, f := range tickFamilies {
		ch <- tickDescs[f.name]
	}
}

// Collect sends each namespace's latest tick's samples.
func (c *tickCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	values := maps.Clone(c.values)
	c.mu.Unlock()
	for k, v := range values {
		for _, s := range v.samples {
			labels := append([]string{k.netns, k.container}, s.labels...)
			ch <- prometheus.MustNewConstMetric(tickDescs[s.fam.name], s.fam.typ, s.value, labels...)
		}
	}
}

func (c *tickCollector) update(netns, container string, snap advisor.Snapshot, f advisor.Findings) {
	v := newTickValues(snap, f, c.topN)
	c.mu.Lock()
	c.values[nsKey{netns, container}] = v
	c.mu.Unlock()
}

// seen marks a namespace observed (or tried) in this tick.
func (c *tickCollector) seen(netns, container string) {
	c.mu.Lock()
	c.observed[nsKey{netns, container}] = true
	c.known[nsKey{netns, container}] = true
	c.mu.Unlock()
}

// prune drops the namespaces not observed since the last prune and returns
// them.
func (c *tickCollector) prune() []nsKey {
	c.mu.Lock()
	defer c.mu.Unlock()
	var gone []nsKey
	for k := range c.known {
		if !c.observed[k] {
			gone = append(gone, k)
			delete(c.values, k)
			delete(c.known, k)
		}
	}
	clear(c.observed)
	return gone
}
