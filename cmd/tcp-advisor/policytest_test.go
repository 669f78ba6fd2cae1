package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// siteTests is a site's policy test directory: the nginx recording and a
// test file expecting tcp_tw_reuse = 1 and, unless rangeTo is empty, the
// range's new value.
func siteTests(t *testing.T, rangeTo string, policy string) string {
	t.Helper()
	dir := t.TempDir()
	data, err := os.ReadFile("../../policies/testdata/recordings/nginx-lb.json.gz")
	if err != nil {
		t.Fatal(err)
	}
	rangeChange := ""
	if rangeTo != "" {
		rangeChange = `
    change "net.ipv4.ip_local_port_range" {
      to = "` + rangeTo + `"
    }`
	}
	files := map[string]string{
		"nginx-lb.json.gz": string(data),
		"site.hcltest": `# The incident of the 3rd.
test "nginx incident" {
  recording = "nginx-lb.json.gz"

  expect {
    level = "critical"` + rangeChange + `
    change "net.ipv4.tcp_tw_reuse" {
      to = "1"
    }
    advice "connection-churn" {
      contains = "opened by nginx"
    }
  }
}
`}
	if policy != "" {
		files["10-site.hcl"] = policy
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestPolicyTestCommand(t *testing.T) {
	cases := []struct {
		name     string
		rangeTo  string
		policy   string
		args     []string
		code     int
		stdout   []string
		stderr   string
		unwanted []string
	}{
		// The recorded nginx incident (1000 ports, 300 requests/s) needs
		// tcp_tw_reuse = 1 alone, the smallest change that works.
		{name: "expects reuse alone", code: 0, stdout: []string{"ok: 1 policy tests passed"}},
		{name: "a widening it does not need", rangeTo: "40000 41000", code: 1, stdout: []string{
			`--- FAIL: DIR/site.hcltest:2: test "nginx incident": the plan differs (- expected, + actual)`,
			`    - change "net.ipv4.ip_local_port_range" { to = "40000 41000" }`,
			"FAIL: 1 of 1 policy tests failed",
		}, unwanted: []string{"tcp_tw_reuse", "+ change"}},
		// The workflow: a site policy changes the rule, and the recorded
		// incident changes outcome: without reuse the range must grow.
		{name: "a site policy that turns reuse off", policy: "rule \"time-wait-reuse\" {\n  enabled = false\n}\n", code: 1, stdout: []string{
			`    - change "net.ipv4.tcp_tw_reuse" { to = "1" }`,
			`    + change "net.ipv4.ip_local_port_range" { rule = "port-exhaustion", to = "40000 57383" }`,
		}},
		{name: "an unknown flag", args: []string{"--nope"}, code: 2, stderr: "flag provided but not defined"},
		{name: "a missing path", args: []string{"/nonexistent/tests"}, code: 2, stderr: "no such file or directory"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := siteTests(t, tc.rangeTo, tc.policy)
			args := tc.args
			if args == nil {
				args = []string{dir}
			}
			var stdout, stderr strings.Builder
			code := dispatch(append([]string{"test"}, args...), &stdout, &stderr)
			out := strings.ReplaceAll(stdout.String(), dir, "DIR")
			if code != tc.code {
				t.Errorf("exit %d, want %d\n%s%s", code, tc.code, out, stderr.String())
			}
			for _, want := range tc.stdout {
				if !strings.Contains(out, want+"\n") {
					t.Errorf("stdout lacks %q:\n%s", want, out)
				}
			}
			for _, bad := range tc.unwanted {
				if strings.Contains(out, bad) {
					t.Errorf("stdout holds %q:\n%s", bad, out)
				}
			}
			if !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, stderr.String())
			}
		})
	}
}

func TestPolicyTestBadFile(t *testing.T) {
	dir := t.TempDir()
	bad := "test \"x\" {\n  recording = \"r.json.gz\"\n  at = \"soon\"\n  expect {\n    level = \"fine\"\n  }\n}\n"
	if err := os.WriteFile(filepath.Join(dir, "bad.hcltest"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr strings.Builder
	if code := dispatch([]string{"test", dir}, &stdout, &stderr); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	for _, want := range []string{"bad.hcltest:3:8", "Invalid moment", "bad.hcltest:5:13", "Invalid level"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
}

// TestPolicyTestUpdate: --update rewrites the expect block to the outcome
// reached, keeping the comment, and the test passes afterwards.
func TestPolicyTestUpdate(t *testing.T) {
	dir := siteTests(t, "40000 41000", "")
	var stdout, stderr strings.Builder
	if code := dispatch([]string{"test", "--update", dir}, &stdout, &stderr); code != 0 {
		t.Fatalf("--update: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	got, err := os.ReadFile(filepath.Join(dir, "site.hcltest"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"# The incident of the 3rd.", `rule = "time-wait-reuse"`} {
		if !strings.Contains(string(got), want) {
			t.Errorf("updated file lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(string(got), "ip_local_port_range") {
		t.Errorf("updated file still expects a widening:\n%s", got)
	}
	stdout.Reset()
	if code := dispatch([]string{"test", dir}, &stdout, &stderr); code != 0 {
		t.Errorf("after --update: exit %d\n%s", code, stdout.String())
	}
}

// TestDefaultPolicyTests runs the default policies' tests, as make test
// does with the binary.
func TestDefaultPolicyTests(t *testing.T) {
	var stdout, stderr strings.Builder
	if code := dispatch([]string{"test", "-v", "../../policies"}, &stdout, &stderr); code != 0 {
		t.Errorf("exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	if n := strings.Count(stdout.String(), "--- PASS"); n < 6 {
		t.Errorf("%d tests passed, want the six scenarios:\n%s", n, stdout.String())
	}
}
