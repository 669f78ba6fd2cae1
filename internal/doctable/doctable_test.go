package doctable

import (
	"os"
	"path/filepath"
	"testing"
)

// recorder is a testing.TB that records failures instead of failing.
type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Errorf(string, ...any) { r.failed = true }
func (r *recorder) Logf(string, ...any)   {}
func (r *recorder) Helper()               {}

func TestCheck(t *testing.T) {
	const doc = "intro\n<!-- t -->\n| a |\n<!-- /t -->\nafter\n"
	for _, tc := range []struct {
		name, want string
		update     bool
		failed     bool
		file       string
	}{
		{name: "same", want: "| a |\n", file: doc},
		{name: "stale", want: "| b |\n", failed: true, file: doc},
		{name: "updated", want: "| b |\n", update: true, file: "intro\n<!-- t -->\n| b |\n<!-- /t -->\nafter\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "README.md")
			if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
				t.Fatal(err)
			}
			if tc.update {
				t.Setenv(UpdateEnv, "1")
			} else {
				t.Setenv(UpdateEnv, "")
			}
			r := &recorder{TB: t}
			Check(r, path, "t", tc.want)
			if r.failed != tc.failed {
				t.Errorf("failed = %v, want %v", r.failed, tc.failed)
			}
			b, _ := os.ReadFile(path)
			if string(b) != tc.file {
				t.Errorf("file:\n%s\nwant:\n%s", b, tc.file)
			}
		})
	}
}
