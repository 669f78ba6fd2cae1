package policies

import (
	"net/netip"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/internal/doctable"
)

// readmeScenarios are the observations behind the README's worked examples,
// one per default rule.
func readmeScenarios() map[string]observation {
	out := map[string]observation{}
	// Timestamps off: tcp_tw_reuse cannot work, so the range must grow.
	o := exhaustedHost()
	o.setSysctl(advisor.KeyTimestamps, "0")
	o.setWorstTimeWait(880)
	o.Findings.Worst.Owners = []advisor.OwnerCount{{PID: 2210, Command: "nginx", Unit: "nginx.service", Count: 4}}
	out["port-exhaustion"] = o
	out["time-wait-reuse"] = exhaustedHost()
	// Timestamps on: tcp_tw_reuse = 1 alone is the plan's change, and the
	// churn behind it is still named, with nginx's own fix.
	o = exhaustedHost()
	o.Findings.Worst.Owners = []advisor.OwnerCount{{PID: 2210, Command: "nginx", Unit: "nginx.service", Count: 4}}
	out["connection-churn"] = o

	// A backend that leaks CLOSE_WAIT on this host: orphans fill the
	// range towards it.
	o = idleHost()
	o.setPortRange(40000, 40999)
	o.setWorst(1000, 1000, nil)
	o.setWorstOrphans(1000, 16.6, 60)
	o.Findings.FinWait2.Count, o.Findings.FinWait2.Orphaned, o.Findings.FinWait2.OrphanedTimeWait = 1000, 1000, 1000
	o.Findings.CloseWait.ByOwner = []advisor.OwnerCount{{PID: 4242, Command: "backend", Unit: "backend.service", Count: 700}}
	o.Findings.CloseWait.Count = 700
	out["fin-wait2-orphans"] = o

	o = idleHost()
	o.Findings.TimeWait.Count, o.Findings.TimeWait.OverflowDelta, o.Findings.TimeWait.OverflowTotal = 262144, 50, 1234
	out["time-wait-bucket-overflow"] = o

	o = idleHost()
	cw := &o.Findings.CloseWait
	o.Findings.Window.Samples = 13
	cw.Samples, cw.Count, cw.Growth, cw.Stuck, cw.Remotes, cw.Pattern = 3, 412, 40, ptr(380), 2, advisor.PatternOneRemote
	cw.UnreadEOF, cw.EOFRead = 400, 12
	cw.ByOwner = []advisor.OwnerCount{{PID: 1234, Command: "java", Unit: "orders.service", Count: 400,
		LocalPort: 8080, FDs: 3904, FDLimit: 4096, FDGrowthPerSecond: ptr(0.8), SecondsToFDLimit: ptr(240.0)}}
	cw.ByRemote = []advisor.RemoteCount{{Remote: "10.0.3.7", Count: 300}}
	for _, p := range []string{"10.0.3.7:51000", "10.0.3.7:51001", "10.0.3.7:51002"} {
		cw.StuckSockets = append(cw.StuckSockets, advisor.SocketID{Local: netip.MustParseAddrPort("10.0.0.1:8080"), Remote: netip.MustParseAddrPort(p)})
	}
	out["close-wait-leak"] = o

	o = idleHost()
	o.Findings.Queues.ListenOverflowsDelta, o.Findings.Queues.ListenDropsDelta = 250, 250
	o.Findings.Queues.Listeners = []advisor.ListenerQueue{{Address: "0.0.0.0:80", Queued: 512, Backlog: 511, Owner: &advisor.Owner{PID: 77, Command: "haproxy", Unit: "haproxy.service"}}}
	out["listen-queue-overflow"] = o

	o = idleHost()
	o.setSysctl(advisor.KeySyncookies, "0")
	o.Findings.Queues.ReqQFullDropDelta = 235
	o.Findings.Queues.SynQueues = []advisor.SynQueue{{Address: "0.0.0.0:443", SynRecv: 129, Backlog: 128, Owner: &advisor.Owner{PID: 812, Command: "envoy", Unit: "envoy.service"}}}
	out["syn-queue-overflow"] = o
	return out
}

// TestReadmeExamples keeps README.md's worked examples true: every rule
// snippet is in the default files, and every example output is what the
// default policies say on the scenario behind it.
func TestReadmeExamples(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	_, defaults, ok := strings.Cut(readme, "## Default policies")
	if !ok {
		t.Fatal("README.md has no Default policies section")
	}
	var all strings.Builder
	for _, src := range DefaultFiles() {
		all.Write(src)
	}
	norm := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	sources := norm(all.String())

	blocks := regexp.MustCompile("(?s)```(hcl|text)\n(.*?)```").FindAllStringSubmatch(defaults, -1)
	set := Default()
	scenarios := readmeScenarios()
	examples := map[string]bool{}
	for _, m := range blocks {
		kind, body := m[1], m[2]
		if kind == "hcl" {
			for _, line := range strings.Split(body, "\n") {
				if !strings.Contains(sources, norm(line)) {
					t.Errorf("README snippet line not in the default policies: %s", line)
				}
			}
			continue
		}
		head, text, _ := strings.Cut(body, "\n")
		f := strings.Fields(head)
		if len(f) < 2 {
			t.Fatalf("example without a header: %q", head)
		}
		severity, rule := f[0], f[1]
		o, ok := scenarios[rule]
		if !ok {
			t.Errorf("no scenario for the README example of %s", rule)
			continue
		}
		examples[rule] = true
		recs, diags := set.Evaluate(o.Snapshot, o.Findings)
		r := find(recs, rule)
		if diags.HasErrors() || r == nil {
			t.Errorf("%s did not fire on its scenario: %s", rule, diagString(diags))
			continue
		}
		if string(r.Severity) != severity {
			t.Errorf("%s: README says %s, policy says %s", rule, severity, r.Severity)
		}
		if norm(text) != norm(r.Message) {
			t.Errorf("%s: README example differs from the policy's message:\nREADME: %s\npolicy: %s", rule, norm(text), r.Message)
		}
		for _, c := range r.Changes {
			cur, _ := o.Snapshot.Sysctls.Value(c.Key)
			if want := c.Key + ": " + cur + " -> " + c.Value; !strings.Contains(head, want) {
				t.Errorf("%s: README header %q lacks %q", rule, head, want)
			}
		}
		if len(r.Changes) == 0 && !strings.Contains(head, "(advice)") {
			t.Errorf("%s: README header %q should say (advice)", rule, head)
		}
	}
	for _, r := range set.Rules {
		if !examples[r.Name] {
			t.Errorf("README.md has no worked example of %s", r.Name)
		}
	}
}

// TestReadmeRegistry keeps the README's table of sysctls the registry's
// (`make docs` rewrites it).
func TestReadmeRegistry(t *testing.T) {
	doctable.Check(t, "README.md", "registry", advisor.RegistryMarkdown())
}

// TestReadmeVariables keeps the README's tables of observation variables
// those advisor.View declares (`make docs` rewrites them).
func TestReadmeVariables(t *testing.T) {
	doctable.Check(t, "README.md", "variables", advisor.VariablesMarkdown())
}
