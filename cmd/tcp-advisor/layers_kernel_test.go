package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tcp-advisor/tcp-advisor/advisor"
)

// refusedJSON is the refused part of `plan --format json`.
type refusedJSON struct {
	Refused []struct {
		Key, To, Rule, Severity, Guardrail, Bound string
		Source                                    string `json:"guardrail_source"`
	} `json:"refused"`
	Changes []struct{ Key, To, Rule, Severity string } `json:"changes"`
	Advice  []struct{ Rule, Severity string }          `json:"advice"`
	Level   string                                     `json:"level"`
}

// TestKernelPolicyLayers runs the commands against one destination at 90 %
// of a 1000-port range with operator policy files layered on the defaults:
// a change a guardrail forbids is listed as refused, with its guardrail, its
// bound and the file, and --detailed-exitcode does not call it an error; a
// file that tightens the port-range guardrail and disables one default rule
// keeps every other default rule, with the tighter step; and diagnose warns
// on exactly the rules plan acts on.
func TestKernelPolicyLayers(t *testing.T) {
	advisorBin, loadBin := binaries(t)
	ns := exhaustionNS(t)
	ns.SetSysctl(t, "net.ipv4.tcp_timestamps", "1")
	ns.MustRun(t, loadBin, "timewait", "-addr", "127.0.0.1:9000", "-n", "900")
	write := func(dir, name, src string) string {
		t.Helper()
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}

	t.Run("refused", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "policies.d")
		file := write(dir, "50-site.hcl", `
guardrail "net.ipv4.tcp_tw_reuse" {
  allowed = [0, 2]
}

rule "port-exhaustion" {
  enabled = false
}
`)
		out, stderr, code := runExit(t, ns, advisorBin, "plan", "--policy", dir, "--format", "json", "--detailed-exitcode", "--state-dir", t.TempDir())
		var p refusedJSON
		if err := json.Unmarshal([]byte(out), &p); err != nil {
			t.Fatalf("exit %d: %v\n%s%s", code, err, out, stderr)
		}
		// A critical change refused needs a person: 2, not an error.
		if code != 2 || len(p.Changes) != 0 {
			t.Errorf("exit %d with changes %+v: a critical change refused needs a person, and is not an error\n%s", code, p.Changes, stderr)
		}
		if len(p.Refused) != 1 || p.Refused[0].Key != "net.ipv4.tcp_tw_reuse" || p.Refused[0].Guardrail != "allowed" ||
			p.Refused[0].Bound != "allowed 0, 2" || !strings.HasPrefix(p.Refused[0].Source, file+":2:1") || p.Refused[0].Rule != "time-wait-reuse" {
			t.Errorf("refused %+v", p.Refused)
		}
		for _, a := range p.Advice {
			if a.Rule == "time-wait-reuse" {
				t.Errorf("the refused change is listed as advice too: %+v", p.Advice)
			}
		}
		text, _, _ := runExit(t, ns, advisorBin, "plan", "--policy", dir, "--state-dir", t.TempDir())
		if !strings.Contains(text, "Refused by guardrails (1)") || !strings.Contains(text, "guardrail allowed: allowed 0, 2 ("+file+":2:1)") {
			t.Errorf("text plan:\n%s", text)
		}
	})

	t.Run("tighter step, one rule off", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "policies.d")
		write(dir, "50-site.hcl", `
guardrail "net.ipv4.ip_local_port_range" {
  max_step = 2000
}

rule "time-wait-reuse" {
  enabled = false
}
`)
		out, stderr, code := runExit(t, ns, advisorBin, "plan", "--policy", dir, "--format", "json", "--detailed-exitcode", "--state-dir", t.TempDir())
		var p refusedJSON
		if err := json.Unmarshal([]byte(out), &p); err != nil || code != 2 {
			t.Fatalf("exit %d: %v\n%s%s", code, err, out, stderr)
		}
		var keys []string
		for _, c := range p.Changes {
			keys = append(keys, c.Key)
			// 900 TIME_WAIT sockets level off at 900 once they are older
			// than the rate window, or at their arrival rate × 60 s while
			// younger: twice either, at most 2000 ports more.
			r, err := advisor.ParsePortRange(c.To)
			if c.Key == "net.ipv4.ip_local_port_range" && (err != nil || r.Low != 40000 || r.High < 41799 || r.High > 42999 || c.Rule != "port-exhaustion") {
				t.Errorf("range change %+v: want the default rule with the tighter step, 40000 41799 to 42999", c)
			}
		}
		if !slices.Contains(keys, "net.ipv4.ip_local_port_range") || slices.Contains(keys, "net.ipv4.tcp_tw_reuse") || len(p.Refused) != 0 {
			t.Errorf("changes %+v refused %+v", p.Changes, p.Refused)
		}
		valid := ns.MustRun(t, advisorBin, "validate", dir)
		if !strings.Contains(valid, "disabled:\n  time-wait-reuse") || !strings.Contains(valid, "port-exhaustion            default/10-port-exhaustion.hcl") {
			t.Errorf("validate:\n%s", valid)
		}

		// diagnose warns on exactly the rules plan acts on.
		var d struct {
			Verdicts []struct{ Level, Rule string } `json:"verdicts"`
		}
		if err := json.Unmarshal([]byte(ns.MustRun(t, advisorBin, "diagnose", "--policy", dir, "--format", "json")), &d); err != nil {
			t.Fatal(err)
		}
		var warned, acted []string
		for _, v := range d.Verdicts {
			if v.Level == "warning" || v.Level == "critical" {
				warned = append(warned, v.Rule)
			}
		}
		for _, c := range p.Changes {
			acted = append(acted, c.Rule)
		}
		for _, a := range p.Advice {
			if a.Severity == "warning" || a.Severity == "critical" {
				acted = append(acted, a.Rule)
			}
		}
		slices.Sort(warned)
		slices.Sort(acted)
		if acted = slices.Compact(acted); !slices.Equal(warned, acted) || len(warned) == 0 {
			t.Errorf("diagnose warns on %v, plan acts on %v", warned, acted)
		}
	})
}
