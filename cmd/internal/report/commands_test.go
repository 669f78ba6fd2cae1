package report

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/tcp-advisor/tcp-advisor/advisor/netns"
	"github.com/tcp-advisor/tcp-advisor/advisor/record"
	"github.com/tcp-advisor/tcp-advisor/policies"
	"github.com/tcp-advisor/tcp-advisor/remediate"
	"github.com/tcp-advisor/tcp-advisor/remediate/policytest"
)

// TestCommandLines: the lines the commands print, byte for byte.
func TestCommandLines(t *testing.T) {
	test := &policytest.Test{Name: "widens", File: "/p/ports.hcltest", Range: hcl.Range{Start: hcl.Pos{Line: 7}}}
	differs := policytest.Result{Expected: []string{"change a"}, Actual: []string{"change b"}}
	pod := &netns.Namespace{Inode: 4026532999, Name: "blue"}
	status := remediate.Status{Version: "1.0.0", Managed: []remediate.KeyStatus{}, LastChanges: []remediate.Record{}}
	var statusText strings.Builder
	if err := WriteStatusText(&statusText, status); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		write func(*strings.Builder) error
		want  string
	}{
		{"applied", func(b *strings.Builder) error {
			WriteApplied(b, []remediate.Applied{{Change: remediate.Change{Key: "net.ipv4.tcp_tw_reuse", From: "2", To: "1"}}})
			return nil
		}, "applied net.ipv4.tcp_tw_reuse = \"1\" (was \"2\")\n"},
		{"question", func(b *strings.Builder) error { WriteQuestion(b, "Apply these changes?"); return nil }, "\nApply these changes? [y/N] "},
		{"progress", func(b *strings.Builder) error {
			p := Progress(b, 2*time.Second)
			p(1, 2)
			p(2, 2)
			return nil
		}, "\rsampling 1/2, 2s apart...\rsampling 2/2, 2s apart...\n"},
		{"policy test passed", func(b *strings.Builder) error {
			WritePolicyTest(b, test, policytest.Result{}, PolicyTestPassed)
			return nil
		}, "--- PASS: /p/ports.hcltest:7: test \"widens\"\n"},
		{"policy test updated", func(b *strings.Builder) error {
			WritePolicyTest(b, test, differs, PolicyTestUpdated)
			return nil
		}, "--- UPDATED: /p/ports.hcltest:7: test \"widens\"\n    - change a\n    + change b\n"},
		{"policy test failed to run", func(b *strings.Builder) error {
			WritePolicyTest(b, test, policytest.Result{Err: errors.New("no frame at 5m")}, PolicyTestFailed)
			return nil
		}, "--- FAIL: /p/ports.hcltest:7: test \"widens\": no frame at 5m\n"},
		{"policy test plan differs", func(b *strings.Builder) error {
			WritePolicyTest(b, test, differs, PolicyTestFailed)
			return nil
		}, "--- FAIL: /p/ports.hcltest:7: test \"widens\": the plan differs (- expected, + actual)\n    - change a\n    + change b\n"},
		{"policy test file does not load", func(b *strings.Builder) error { WritePolicyFileFailed(b, "/p/x.hcltest", nil); return nil },
			"--- FAIL: /p/x.hcltest: the test file does not load\n"},
		{"policy test file's policies do not load", func(b *strings.Builder) error {
			WritePolicyFileFailed(b, "/p/x.hcltest", errors.New("policies did not compile (1 errors)"))
			return nil
		}, "--- FAIL: /p/x.hcltest: policies did not compile (1 errors)\n"},
		{"policy tests passed", func(b *strings.Builder) error { WritePolicyTestSummary(b, 3, 0); return nil }, "ok: 3 policy tests passed\n"},
		{"policy tests failed", func(b *strings.Builder) error { WritePolicyTestSummary(b, 3, 1); return nil }, "FAIL: 1 of 4 policy tests failed\n"},
		{"no state", func(b *strings.Builder) error {
			return WriteNoStateText(b, "1.0.0", "/var/lib/tcp-advisor", KernelEvents{Unavailable: "kernel events unavailable: EPERM"})
		}, "tcp-advisor 1.0.0\nNo state in /var/lib/tcp-advisor: tcp-advisor has changed nothing here.\nkernel events unavailable: EPERM\n"},
		{"kernel events available", func(b *strings.Builder) error { b.WriteString(KernelEvents{Available: true}.Line()); return nil },
			"kernel events: available (connection events from the sock:inet_sock_set_state tracepoint)"},
		{"namespace gone", func(b *strings.Builder) error { return WriteNamespaceStatus(b, "blue", nil, 2) },
			"\nnetwork namespace blue (gone): 2 sysctl(s) were managed there\n"},
		{"namespace status", func(b *strings.Builder) error {
			return WriteNamespaceStatus(b, "blue", &status, 0)
		}, "\nnetwork namespace blue:\n" + statusText.String()},
		{"check that could not judge", func(b *strings.Builder) error {
			WriteCheckUnknown(b, fmt.Errorf("usage: %w", errors.New("--samples 0: want 1 or more")))
			return nil
		}, "TCP-ADVISOR UNKNOWN - usage: --samples 0: want 1 or more\n"},
		{"recorded", func(b *strings.Builder) error {
			rec := &record.Recording{Series: []record.Series{{Frames: make([]record.Frame, 3)}, {Frames: make([]record.Frame, 2)}}}
			WriteRecorded(b, rec, time.Minute, "/tmp/r.json.gz")
			return nil
		}, "recorded 5 frames of 2 namespace(s) over 1m0s to /tmp/r.json.gz\n"},
		{"quiet namespaces", func(b *strings.Builder) error { WriteQuiet(b, []string{"blue", "red"}); return nil },
			"2 namespace(s) with nothing to say: blue, red\n"},
		{"no quiet namespace", func(b *strings.Builder) error { WriteQuiet(b, nil); return nil }, ""},
		{"section", func(b *strings.Builder) error {
			return WriteSection(b, pod, &PrecheckSection{Summary: "dumped: yes"}, func(w io.Writer) error {
				_, err := io.WriteString(w, "body\n")
				return err
			})
		}, "=== network namespace blue (net:[4026532999])\ndumped: yes\nbody\n\n"},
		{"check line in a namespace", func(b *strings.Builder) error {
			b.WriteString(CheckIn("TCP-ADVISOR CRITICAL - ports 97% used | x=1", pod))
			return nil
		}, "TCP-ADVISOR CRITICAL - namespace blue: ports 97% used | x=1"},
		{"namespace names once each", func(b *strings.Builder) error {
			return WriteNamespaceNames(b, []netns.Namespace{{Inode: 1, Name: "blue"}, {Inode: 1, Name: "blue"}, {Inode: 2}})
		}, "blue\nnet:[1]\nnet:[2]\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			if err := tt.write(&b); err != nil {
				t.Fatal(err)
			}
			if got := b.String(); got != tt.want {
				t.Errorf("wrote\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

// TestWritePolicySet: validate's listing of a set, with where each rule,
// disabled rule and guardrail comes from.
func TestWritePolicySet(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "50-test.hcl")
	text := "rule \"reuse\" {\n  when = true\n  message = \"ports short\"\n  set \"net.ipv4.tcp_tw_reuse\" {\n    value = 1\n  }\n}\n"
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	set, diags := policies.Load(dir)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	var b strings.Builder
	WritePolicySet(&b, set)
	got := b.String()
	for _, want := range []string{"ok: " + set.Describe() + "\nrules:\n", "\n  reuse                      " + file + ":1", "\nguardrails:\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("wrote\n%s\nwant it to hold %q", got, want)
		}
	}
}
