package packaging

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/tcp-advisor/tcp-advisor/internal/testbin"
	"go.yaml.in/yaml/v3"
)

const (
	rulesFile     = "prometheus/tcp-advisor.rules.yml"
	rulesTestFile = "prometheus/tcp-advisor.rules.test.yml"
)

type ruleGroups struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

type ruleTests struct {
	RuleFiles []string `yaml:"rule_files"`
	Tests     []struct {
		AlertRuleTest []struct {
			Alertname string           `yaml:"alertname"`
			ExpAlerts []map[string]any `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestAlertRulesPromtool runs what an operator runs before loading the
// rules: promtool check rules, and the unit tests beside them.
func TestAlertRulesPromtool(t *testing.T) {
	promtool := testbin.Tool(t, "promtool", "prometheus")
	out, err := exec.Command(promtool, "check", "rules", rulesFile).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "SUCCESS") {
		t.Errorf("promtool check rules %s: %v\n%s", rulesFile, err, out)
	}
	cmd := exec.Command(promtool, "test", "rules", "tcp-advisor.rules.test.yml")
	cmd.Dir = "prometheus" // rule_files are relative to the test file
	out, err = cmd.CombinedOutput()
	t.Logf("promtool test rules:\n%s", out)
	if err != nil || !strings.Contains(string(out), "SUCCESS") {
		t.Errorf("promtool test rules: %v", err)
	}
}

// TestAlertRules: every alert has a severity, a summary and a description,
// reads only metrics the agent exports, and has a promtool test that
// expects it to fire.
func TestAlertRules(t *testing.T) {
	var rules ruleGroups
	readYAML(t, rulesFile, &rules)
	var tests ruleTests
	readYAML(t, rulesTestFile, &tests)
	if !slices.Equal(tests.RuleFiles, []string{"tcp-advisor.rules.yml"}) {
		t.Errorf("%s tests %v, want the rules file beside it", rulesTestFile, tests.RuleFiles)
	}
	fired := map[string]bool{}
	for _, tt := range tests.Tests {
		for _, a := range tt.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fired[a.Alertname] = true
			}
		}
	}
	families := exported()
	var alerts []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				t.Errorf("rule %q is not an alert", r.Record)
				continue
			}
			alerts = append(alerts, r.Alert)
			if !slices.Contains([]string{"critical", "warning", "info"}, r.Labels["severity"]) {
				t.Errorf("%s: severity %q", r.Alert, r.Labels["severity"])
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: needs a summary and a description", r.Alert)
			}
			if !strings.HasPrefix(r.Alert, "TCPAdvisor") {
				t.Errorf("%s: alert names start with TCPAdvisor", r.Alert)
			}
			checkExported(t, r.Alert, r.Expr, families)
			if !fired[r.Alert] {
				t.Errorf("%s: no promtool test expects it to fire", r.Alert)
			}
		}
	}
	want := []string{
		"TCPAdvisorDestinationPortsExhausted", "TCPAdvisorDestinationPortsExhaustionPredicted",
		"TCPAdvisorCloseWaitLeak", "TCPAdvisorTimeWaitBucketOverflow", "TCPAdvisorNotTicking",
		"TCPAdvisorPolicyLoadFailed", "TCPAdvisorChangeApplied", "TCPAdvisorPolicyChecksumDrift",
		"TCPAdvisorStateStoreFailing", "TCPAdvisorSysctlWriteBackingOff",
	}
	for _, a := range want {
		if !slices.Contains(alerts, a) {
			t.Errorf("alert %s missing", a)
		}
	}
}
