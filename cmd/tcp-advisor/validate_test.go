package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestAgentPolicyPaths reads a running agent's policy paths from a fixture
// /proc/PID: the --policy flags of its command line, a relative one
// resolved against its working directory; anything but an agent is refused.
func TestAgentPolicyPaths(t *testing.T) {
	tests := []struct {
		name    string
		argv    []string
		want    []string
		wantErr string
	}{
		{"unit", []string{"/usr/bin/tcp-advisor", "run", "--policy", "/etc/tcp-advisor/policies.d", "--state-dir", "/var/lib/tcp-advisor", "--mode", "enforce"}, []string{"/etc/tcp-advisor/policies.d"}, ""},
		{"relative and repeated", []string{"tcp-advisor", "run", "--policy=site", "--policy", "/srv/extra.hcl"}, []string{"CWD/site", "/srv/extra.hcl"}, ""},
		{"defaults only", []string{"tcp-advisor", "run"}, nil, ""},
		{"not an agent", []string{"tcp-advisor", "diagnose"}, nil, "not a tcp-advisor agent"},
		{"bad flags", []string{"tcp-advisor", "run", "--no-such-flag"}, nil, "does not parse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			proc := t.TempDir()
			cwd := t.TempDir()
			dir := filepath.Join(proc, "4242")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "cmdline"), []byte(strings.Join(tt.argv, "\x00")+"\x00"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(cwd, filepath.Join(dir, "cwd")); err != nil {
				t.Fatal(err)
			}
			got, err := agentPolicyPaths(proc, 4242)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, w := range tt.want {
				want = append(want, strings.Replace(w, "CWD", cwd, 1))
			}
			if !slices.Equal(got, want) {
				t.Errorf("paths %q, want %q", got, want)
			}
		})
	}
}

// TestStatusNamesVersion: status says which tcp-advisor reports, in text
// and JSON, with or without a state file.
func TestStatusNamesVersion(t *testing.T) {
	v, _ := versionInfo()
	dir := filepath.Join(t.TempDir(), "never-used")
	stdout, stderr, code := run("status", "--state-dir", dir)
	if code != 0 || !strings.HasPrefix(stdout, "tcp-advisor "+v+"\n") {
		t.Errorf("status: exit %d, want a first line %q:\n%s%s", code, "tcp-advisor "+v, stdout, stderr)
	}
	stdout, stderr, code = run("status", "--format", "json", "--state-dir", dir)
	var st struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal([]byte(stdout), &st); code != 0 || err != nil || st.Version != v {
		t.Errorf("status --format json: exit %d, %v, version %q, want %q:\n%s%s", code, err, st.Version, v, stdout, stderr)
	}
}
