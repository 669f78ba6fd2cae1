package metrics

import (
	"fmt"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// Namespace prefixes every family the agent exports, the Go runtime and
// process collectors' included.
const Namespace = "tcp_advisor"

// family is one metric family of the agent's own: its name without the
// namespace, help text, type and label names. The table below is the one
// place a family is defined; the collectors and FamilyNames read it.
type family struct {
	name   string
	help   string
	typ    prometheus.ValueType
	labels []string
}

func (f family) fqName() string { return Namespace + "_" + f.name }

func (f family) desc() *prometheus.Desc {
	return prometheus.NewDesc(f.fqName(), f.help, f.labels, nil)
}

// nsLabels name the network namespace a tick's series are about, and its
// container: both empty for the namespace the agent runs in when it
// watches no other (run without --all-namespaces).
var nsLabels = []string{"netns", "container"}

// withNS returns the namespace labels followed by labels.
func withNS(labels ...string) []string { return append(append([]string{}, nsLabels...), labels...) }

// The families derived from each tick's observation and findings.
var (
	famSockets = family{"sockets", "TCP sockets by kernel state. TIME_WAIT every tick (sockstat, or the socket dump); CLOSE_WAIT and FIN_WAIT2 from the latest dump that listed them (every --detail-interval); other states only at ticks whose socket dump included them.",
		prometheus.GaugeValue, withNS("state")}
	famHolding = family{"sockets_holding_ports", "Sockets that may hold a local port: sockstat TCP inuse + TCP6 inuse + tw, and in the initial network namespace the sockets bound but not connected, up to sockstat TCP alloc. No destination can use more ports than this.",
		prometheus.GaugeValue, nsLabels}
	famUsable = family{"ports_usable", "Ephemeral ports one destination can use: the ip_local_port_range size minus ip_local_reserved_ports inside it and, at ticks with a socket dump, minus the listening ports inside it.",
		prometheus.GaugeValue, nsLabels}
	famDestinations = family{"destinations", "Destinations (local address, remote address and port) that hold ephemeral ports; only at ticks that dumped the whole socket table.",
		prometheus.GaugeValue, nsLabels}
	famDestInUse = family{"destination_ports_in_use", "Ephemeral ports in use towards one destination (sockets holding one, TIME_WAIT included), for the --metrics-top destinations under most pressure, in the order diagnose lists them; local=\"other\",remote=\"other\" sums the rest. At ticks without a whole-table dump, one series local=\"any\",remote=\"any\": the pre-check's bound on every destination, sockets_holding_ports.",
		prometheus.GaugeValue, withNS("local", "remote")}
	famDestUsable = family{"destination_ports_usable", "Ephemeral ports a destination can use (the same for every destination); series as destination_ports_in_use.",
		prometheus.GaugeValue, withNS("local", "remote")}
	famDestUtil = family{"destination_utilization_ratio", "Ports connect() cannot use towards one destination (in use, less the TIME_WAIT sockets tcp_tw_reuse lets it take) over usable ports, 0 to 1, diagnose's utilization; for local=\"other\",remote=\"other\" that of the most pressed destination not listed; for local=\"any\",remote=\"any\" (ticks without a whole-table dump) the pre-check's bound, sockets_holding_ports over usable ports.",
		prometheus.GaugeValue, withNS("local", "remote")}
	famWorst = family{"worst_utilization_ratio", "Utilization (as destination_utilization_ratio) of the destination under most pressure, diagnose's worst destination, 0 to 1 (0 with none), at ticks that dumped the whole socket table, which the agent does once the sockets holding ports reach half the usable ports; at other ticks the pre-check's bound, sockets_holding_ports over usable ports, which no destination exceeds.",
		prometheus.GaugeValue, nsLabels}
	famNewConns = family{"active_opens_per_second", "New outgoing connection attempts per second (Tcp ActiveOpens over the agent's recent ticks).",
		prometheus.GaugeValue, nsLabels}
	famActiveOpens = family{"active_opens_total", "The kernel's Tcp ActiveOpens counter: outgoing connection attempts since the network namespace was created.",
		prometheus.CounterValue, nsLabels}
	famTWOverflow = family{"time_wait_overflow_total", "The kernel's TcpExt TCPTimeWaitOverflow counter: closing sockets that skipped TIME_WAIT because tcp_max_tw_buckets was reached.",
		prometheus.CounterValue, nsLabels}
	famCloseWait = family{"close_wait_sockets", "CLOSE_WAIT sockets by owning process command and systemd unit (\"unknown\" when no process could be found), the --metrics-top largest owners; command=\"other\",unit=\"other\" sums the rest. From the latest CLOSE_WAIT dump.",
		prometheus.GaugeValue, withNS("command", "unit")}
	famStuck = family{"close_wait_stuck_sockets", "CLOSE_WAIT sockets present in each of the last CLOSE_WAIT dumps (same socket cookie and addresses): no kernel timeout ends them, only the owner's close(). 0 until the agent has made enough dumps to tell.",
		prometheus.GaugeValue, nsLabels}
	famOrphans = family{"fin_wait2_orphaned_sockets", "Orphaned FIN_WAIT2 sockets: closed here first, waiting tcp_fin_timeout for a peer that has not closed (the backend's end is in CLOSE_WAIT). Each holds its port towards that peer, which tcp_tw_reuse never frees; from the latest dump that listed FIN_WAIT2.",
		prometheus.GaugeValue, nsLabels}
	famDestOrphans = family{"destination_fin_wait2_orphaned", "Orphaned FIN_WAIT2 sockets per destination, part of destination_ports_in_use; series as destination_ports_in_use.",
		prometheus.GaugeValue, withNS("local", "remote")}
	famSynRecv = family{"listener_syn_recv", "Request sockets (SYN_RECV) in a listener's SYN queue, for the --metrics-top fullest listeners that have any; the queue's limit is the listener's backlog. At ticks whose dump included SYN_RECV.",
		prometheus.GaugeValue, withNS("address")}
	famSynBacklog = family{"listener_backlog", "A listener's backlog, min(its listen() backlog, net.core.somaxconn), which bounds its SYN queue and its accept queue; series as listener_syn_recv.",
		prometheus.GaugeValue, withNS("address")}
	famSynOverflow = family{"syn_queue_overflow_total", "The kernel's TcpExt TCPReqQFullDrop (outcome=\"drop\", tcp_syncookies off) and TCPReqQFullDoCookies (outcome=\"cookie\"): SYNs that found a SYN queue full.",
		prometheus.CounterValue, withNS("outcome")}
	famSysctl = family{"sysctl_value", "Current value of each sysctl tcp-advisor reads whose value is one integer, by dotted key.",
		prometheus.GaugeValue, withNS("key")}
	famPortRange = family{"ip_local_port_range", "net.ipv4.ip_local_port_range, bound=\"low\" and bound=\"high\" (inclusive).",
		prometheus.GaugeValue, withNS("bound")}
)

// tickFamilies are exported by tickCollector.
var tickFamilies = []family{
	famSockets, famHolding, famUsable, famDestinations, famDestInUse, famDestUsable, famDestUtil, famWorst,
	famNewConns, famActiveOpens, famTWOverflow, famCloseWait, famStuck, famSysctl, famPortRange,
	famOrphans, famDestOrphans, famSynRecv, famSynBacklog, famSynOverflow,
}

// figures names the rule variable (a path in advisor.View, the JSON key of
// the same name) or, where rules have none, the JSON key that a family
// exports: the family is named after it,
// with a Prometheus unit suffix where it has one (TestFamiliesNamedAfterFigures).
var figures = map[string]string{
	"sockets_holding_ports":          "ports.sockets_holding_ports",
	"ports_usable":                   "ports.usable",
	"destination_ports_in_use":       "destinations[*].ports_in_use",
	"destination_ports_usable":       "destinations[*].ports_usable",
	"destination_utilization_ratio":  "destinations[*].utilization",
	"destination_fin_wait2_orphaned": "destinations[*].fin_wait2_orphaned",
	"worst_utilization_ratio":        "worst.utilization",
	"active_opens_per_second":        "connections.active_opens_per_second",
	"time_wait_overflow_total":       "time_wait.overflow_total",
	"close_wait_stuck_sockets":       "close_wait.stuck",
	"fin_wait2_orphaned_sockets":     "fin_wait2.orphaned",
	"listener_syn_recv":              "queues.syn_queues[*].syn_recv",
	"listener_backlog":               "queues.syn_queues[*].backlog",
	"connect_failures_total":         "events.connect_failures",
	"opens_total":                    "events.opens",
	"kernel_events_available":        "events.available",
	"observation_degraded":           "degraded",
}

// otherNames are the families that export a figure but are not named
// after it, Prometheus's conventions having the last word, each with the
// reason; the Metrics table names their figures too
// (TestFamiliesNamedAfterFigures keeps this list to the exceptions).
var otherNames = map[string]otherName{
	"destinations": {[]figureOf{{"", "ports.destination_count"}},
		"a _count suffix belongs to a histogram's or summary's series in Prometheus: a gauge is named after what it counts"},
	"syn_queue_overflow_total": {[]figureOf{{`outcome="drop"`, "queues.req_q_full_drop_delta"}, {`outcome="cookie"`, "queues.req_q_full_do_cookies_delta"}},
		"one counter of the kernel's two totals, told apart by a label; the variables are each total's rise over the window, which increase() takes in PromQL"},
	"sockets": {[]figureOf{{`state="TIME_WAIT"`, "states.TIME_WAIT"}},
		"one gauge with a state label: a series per state variable, states.ESTABLISHED and the rest"},
	"ip_local_port_range": {[]figureOf{{`bound="low"`, "ports.low"}, {`bound="high"`, "ports.high"}},
		"named after the sysctl it reads, its two ends told apart by a label"},
	"close_wait_sockets": {[]figureOf{{`command, unit`, "close_wait.by_owner[*].count"}},
		"one series per owner, labelled by command and unit; _sockets is the unit"},
}

// otherName is a family's figures and why it is not named after them.
type otherName struct {
	figures []figureOf
	why     string
}

// figureOf is a figure (a rule variable's path or, where rules have none,
// a JSON key) and the series that export it.
type figureOf struct{ series, path string }

// figureCell is a family's cell in the Metrics table's figure column.
func figureCell(name string) string {
	if f := figures[name]; f != "" {
		return "`" + f + "`"
	}
	o, ok := otherNames[name]
	if !ok {
		return ""
	}
	var parts []string
	for _, f := range o.figures {
		part := "`" + f.path + "`"
		if f.series != "" {
			part = "`{" + f.series + "}`: " + part
		}
		parts = append(parts, part)
	}
	return strings.Join(parts, ", ") + " (" + o.why + ")"
}

// The families the agent's actions update.
var (
	famRecommendations = family{"recommendations_total", "Policy recommendations (a change or advice), counted at each tick a rule fires.",
		prometheus.CounterValue, []string{"netns", "rule", "severity"}}
	famChanges = family{"changes_total", "Sysctl changes the agent tried in enforce mode, by outcome: applied (written and read back) or failed (not applied; keys of its group already written were restored).",
		prometheus.CounterValue, []string{"netns", "rule", "key", "outcome"}}
	famRefusals = family{"refusals_total", "Planned changes a guardrail or cooldown refused, counted at each tick.",
		prometheus.CounterValue, []string{"netns", "rule", "key", "guardrail"}}
	famStateStoreOK = family{"state_store_ok", "1 while the agent can read and write its state file in the namespace, 0 while it cannot: nothing is applied there meanwhile, observing goes on.",
		prometheus.GaugeValue, nsLabels}
	famBackoff = family{"sysctl_write_backoff", "1 for each sysctl whose last write failed (EINVAL, EACCES, EROFS, or a different read-back): the agent leaves it alone for a minute, doubling up to an hour, until a write succeeds; 0 for every other sysctl tcp-advisor may set.",
		prometheus.GaugeValue, withNS("key")}
	famDegraded = family{"observation_degraded", "How many observation fallbacks the last tick needed (for example the socket dump read from /proc/net/tcp because sock_diag failed); 0 when every source worked.",
		prometheus.GaugeValue, nsLabels}
	famTickDuration = family{"tick_duration_seconds", "How long the last tick took: observe, analyze, evaluate, plan, apply.",
		prometheus.GaugeValue, nsLabels}
	famTickSuccess = family{"tick_success", "1 if the last tick observed the kernel, else 0.",
		prometheus.GaugeValue, nsLabels}
	famLastSuccess = family{"last_success_timestamp_seconds", "When the last successful tick ended, in seconds since the Unix epoch (0 before the first).",
		prometheus.GaugeValue, nsLabels}
	famInterval = family{"tick_interval_seconds", "The tick interval in force.",
		prometheus.GaugeValue, nil}
	famPolicyInfo = family{"policy_info", "The policy set in force: its checksum (sha256 over the files' names and contents) and the agent's mode. Always 1.",
		prometheus.GaugeValue, []string{"checksum", "mode"}}
	famConnectFailures = family{"connect_failures_total", "connect() calls that failed because no local port was left towards their destination (EADDRNOTAVAIL), from the kernel's connection events; no series while the events are unavailable (see kernel_events_available).",
		prometheus.CounterValue, nsLabels}
	famOpens = family{"opens_total", "connect() calls (CLOSE -> SYN_SENT, failed ones included), from the kernel's connection events; no series while the events are unavailable.",
		prometheus.CounterValue, nsLabels}
	famEventsAvailable = family{"kernel_events_available", "1 while the kernel's connection events (the eBPF program on sock:inet_sock_set_state) feed the agent; 0 where the kernel refused them, with reason (\"kernel events unavailable: REASON\"): connect_failures_total then has no series and who opens connections comes from socket owners.",
		prometheus.GaugeValue, []string{"reason"}}
	famEventsOverflow = family{"kernel_events_overflow_total", "Connection events the events program's flow map had no room for, host-wide, since the agent attached it: connect_failures_total and opens_total still count them, the per-process figures do not. 0 while the events are unavailable.",
		prometheus.CounterValue, nil}
	famPolicyLoad = family{"policy_load_success", "1 if the last policy (re)load compiled, 0 if it failed and the previous set stays in force.",
		prometheus.GaugeValue, nil}
	famBuildInfo = family{"build_info", "The running tcp-advisor's version, the commit it was built from and the Go release that built it. Always 1.",
		prometheus.GaugeValue, []string{"version", "revision", "goversion"}}
)

// actionFamilies are metrics the Metrics type holds directly.
var actionFamilies = []family{
	famRecommendations, famChanges, famRefusals, famTickDuration, famTickSuccess, famLastSuccess,
	famStateStoreOK, famBackoff, famDegraded, famInterval, famPolicyInfo, famPolicyLoad, famBuildInfo,
	famConnectFailures, famOpens, famEventsAvailable, famEventsOverflow,
}

// FamiliesMarkdown is README.md's table of the metric families, from the
// family tables: name, type, labels, the figure it exports (figures,
// otherNames) and help, the agent's families in table order, then the
// runtime collectors.
func FamiliesMarkdown() string {
	var b strings.Builder
	b.WriteString("| family | type | labels | figure (rule variable or JSON key) | meaning |\n| --- | --- | --- | --- | --- |\n")
	for _, f := range slices.Concat(tickFamilies, actionFamilies) {
		typ := "gauge"
		if f.typ == prometheus.CounterValue {
			typ = "counter"
		}
		labels := make([]string, len(f.labels))
		for i, l := range f.labels {
			labels[i] = "`" + l + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", f.fqName(), typ, strings.Join(labels, ", "), figureCell(f.name), strings.ReplaceAll(f.help, "|", `\|`))
	}
	fmt.Fprintf(&b, "| `%s_go_*`, `%s_process_*` | | | | the standard Go runtime and process collectors, prefixed: node_exporter exports `go_*` and `process_*` itself, and the same names in a textfile would break its scrape |\n", Namespace, Namespace)
	return b.String()
}
