package policytest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tcp-advisor/tcp-advisor/advisor/record"
	"github.com/tcp-advisor/tcp-advisor/policies"
)

// nginx is the recording of the nginx load balancer scenario.
const nginx = "../../policies/testdata/recordings/nginx-lb.json.gz"

func loadTest(t *testing.T, expect string) *Test {
	t.Helper()
	abs, err := filepath.Abs(nginx)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "x.hcltest")
	src := "test \"x\" {\n  recording = \"" + abs + "\"\n  expect {\n" + expect + "\n  }\n}\n"
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	tests, diags := Load(path)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return &tests[0]
}

func TestRun(t *testing.T) {
	cases := []struct {
		name   string
		expect string
		diff   string // "" when the test passes
	}{
		// The nginx incident needs tcp_tw_reuse = 1 alone, and the advice
		// names the churn behind it.
		{"exact", `level = "critical"
    change "net.ipv4.tcp_tw_reuse" { rule = "time-wait-reuse" }
    advice "connection-churn" { severity = "critical" }`, ""},
		{"a wrong value", `change "net.ipv4.tcp_tw_reuse" { to = "2" }
    advice "connection-churn" { severity = "critical" }`, `- change "net.ipv4.tcp_tw_reuse" { to = "2" }
+ change "net.ipv4.tcp_tw_reuse" { to = "1" }
`},
		{"a change not expected", `level = "critical"
    advice "connection-churn" { severity = "critical" }`, `+ change "net.ipv4.tcp_tw_reuse" { rule = "time-wait-reuse", to = "1" }
`},
		{"nothing expected", `level = "ok"`, `- level = "ok"
+ advice "connection-churn" { severity = "critical" }
+ change "net.ipv4.tcp_tw_reuse" { rule = "time-wait-reuse", to = "1" }
+ level = "critical"
`},
		{"a text the advice holds", `change "net.ipv4.tcp_tw_reuse" {}
    advice "connection-churn" { contains = ["opened by nginx", "keepalive 32;"] }`, ""},
		{"advice that does not come", `change "net.ipv4.tcp_tw_reuse" {}
    advice "connection-churn" { severity = "critical" }
    advice "close-wait-leak" { severity = "critical" }`, `- advice "close-wait-leak" { severity = "critical" }
`},
	}
	set := policies.Default()
	cache := map[string]*record.Recording{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := Run(loadTest(t, tc.expect), set, cache)
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			got := Diff(r.Expected, r.Actual)
			if got != tc.diff || r.Passed() != (tc.diff == "") {
				t.Errorf("diff:\n%s\nwant:\n%s", got, tc.diff)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	cases := []struct{ src, want string }{
		{`test "a" {}`, "x.hcltest:1:10: Missing required argument"},
		{"test \"a\" {\n  recording = \"r\"\n}\n", "x.hcltest:1:1: Missing expect block"},
		{"test \"a\" {\n  recording = \"r\"\n  expect {\n    change \"k\" { guardrail = \"g\" }\n  }\n}\n", "x.hcltest:4:18: Unsupported argument"},
		{"test \"a\" {\n  recording = \"r\"\n  expect {}\n}\ntest \"a\" {\n  recording = \"r\"\n  expect {}\n}\n", "x.hcltest:5:6: Duplicate test"},
	}
	for _, tc := range cases {
		path := filepath.Join(t.TempDir(), "x.hcltest")
		if err := os.WriteFile(path, []byte(tc.src), 0o644); err != nil {
			t.Fatal(err)
		}
		_, diags := Load(path)
		var b strings.Builder
		policies.FormatDiagnostics(&b, diags)
		if !strings.Contains(strings.ReplaceAll(b.String(), filepath.Dir(path)+"/", ""), tc.want) {
			t.Errorf("%q: diagnostics\n%s\nwant %q", tc.src, b.String(), tc.want)
		}
	}
}

// TestRefusal: a site guardrail that forbids tcp_tw_reuse = 1 turns the
// change into a refusal naming the guardrail, and the test says so.
func TestRefusal(t *testing.T) {
	dir := t.TempDir()
	guard := "guardrail \"net.ipv4.tcp_tw_reuse\" {\n  allowed = [0, 2]\n}\n"
	if err := os.WriteFile(filepath.Join(dir, "10-site.hcl"), []byte(guard), 0o644); err != nil {
		t.Fatal(err)
	}
	set, diags := policies.Load(dir)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	test := loadTest(t, `change "net.ipv4.ip_local_port_range" {}
    change "net.ipv4.tcp_tw_reuse" { to = "1" }
    advice "connection-churn" { severity = "critical" }`)
	r := Run(test, set, map[string]*record.Recording{})
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	want := `- change "net.ipv4.tcp_tw_reuse" { to = "1" }
+ refused "net.ipv4.tcp_tw_reuse" { guardrail = "allowed", rule = "time-wait-reuse" }
`
	if got := Diff(r.Expected, r.Actual); got != want {
		t.Errorf("diff:\n%s\nwant:\n%s", got, want)
	}
}
