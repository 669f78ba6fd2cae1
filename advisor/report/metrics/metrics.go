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
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/tcp-advisor/tcp-advisor/advisor"
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
	tickDuration    prometheus.Gauge
	tickSuccess     prometheus.Gauge
	lastSuccess     prometheus.Gauge
	interval        prometheus.Gauge
	policyInfo      *prometheus.GaugeVec
	policyLoad      prometheus.Gauge
}

// New returns a collector with its own registry, the Go runtime and process
// collectors registered under the tcp_advisor_ prefix.
func New(opts Options) *Metrics {
	if opts.TopN <= 0 {
		opts.TopN = DefaultTopN
	}
	reg := prometheus.NewRegistry()
	m := &Metrics{reg: reg, textfile: opts.Textfile, tick: &tickCollector{topN: opts.TopN}}
	counter := func(f family) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: f.fqName(), Help: f.help}, f.labels)
	}
	gauge := func(f family) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: f.fqName(), Help: f.help})
	}
	m.recommendations = counter(famRecommendations)
	m.changes = counter(famChanges)
	m.refusals = counter(famRefusals)
	m.tickDuration = gauge(famTickDuration)
	m.tickSuccess = gauge(famTickSuccess)
	m.lastSuccess = gauge(famLastSuccess)
	m.interval = gauge(famInterval)
	m.policyInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: famPolicyInfo.fqName(), Help: famPolicyInfo.help}, famPolicyInfo.labels)
	m.policyLoad = gauge(famPolicyLoad)
	reg.MustRegister(m.tick, m.recommendations, m.changes, m.refusals, m.tickDuration, m.tickSuccess,
		m.lastSuccess, m.interval, m.policyInfo, m.policyLoad)
	prefixed := prometheus.WrapRegistererWithPrefix(Namespace+"_", reg)
	prefixed.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// ObserveTick records one tick: the snapshot it observed, its findings,
// how long it took and whether it failed. A failed tick (err set) leaves
// the last observed values in place and sets tcp_advisor_tick_success to 0.
func (m *Metrics) ObserveTick(snap advisor.Snapshot, f advisor.Findings, took time.Duration, err error) {
	m.tickDuration.Set(took.Seconds())
	if err != nil {
		m.tickSuccess.Set(0)
		return
	}
	m.tick.update(snap, f)
	m.tickSuccess.Set(1)
	m.lastSuccess.SetToCurrentTime()
}

// Recommendation counts one recommendation of a rule at this tick.
func (m *Metrics) Recommendation(rule, severity string) {
	m.recommendations.WithLabelValues(rule, severity).Inc()
}

// Change counts one change the agent tried: outcome is OutcomeApplied or
// OutcomeFailed.
func (m *Metrics) Change(rule, key, outcome string) {
	m.changes.WithLabelValues(rule, key, outcome).Inc()
}

// Refusal counts one planned change a guardrail refused at this tick.
func (m *Metrics) Refusal(rule, key, guardrail string) {
	m.refusals.WithLabelValues(rule, key, guardrail).Inc()
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

// Flush writes the textfile named in Options, if any.
func (m *Metrics) Flush() error {
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
	v    *tickValues // nil before the first successful tick
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

// Collect sends the latest tick's samples.
func (c *tickCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	v := c.v
	c.mu.Unlock()
	if v == nil {
		return
	}
	for _, s := range v.samples {
		ch <- prometheus.MustNewConstMetric(tickDescs[s.fam.name], s.fam.typ, s.value, s.labels...)
	}
}

func (c *tickCollector) update(snap advisor.Snapshot, f advisor.Findings) {
	v := newTickValues(snap, f, c.topN)
	c.mu.Lock()
	c.v = v
	c.mu.Unlock()
}
