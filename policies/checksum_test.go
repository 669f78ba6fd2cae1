package policies

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const siteRule = `rule "site-note" {
  severity = "info"
  when     = true
  message  = "site policy"
}
`

// policyDir writes files into a new directory.
func policyDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func checksumOfLoad(t *testing.T, paths ...string) string {
	t.Helper()
	set, diags := Load(paths...)
	if diags.HasErrors() {
		t.Fatalf("load %v: %v", paths, diags)
	}
	return set.Checksum()
}

// sha256sumPipeline runs the documented shell pipeline: sha256sum over the
// *.hcl files of each directory in turn, then sha256sum of those lines.
func sha256sumPipeline(t *testing.T, dirs ...string) string {
	t.Helper()
	var script strings.Builder
	script.WriteString("{ ")
	for i := range dirs {
		script.WriteString(`cd "$` + string(rune('1'+i)) + `" && LC_ALL=C sha256sum *.hcl; `)
	}
	script.WriteString("} | sha256sum")
	out, err := exec.Command("sh", append([]string{"-c", script.String(), "sh"}, dirs...)...).Output()
	if err != nil {
		t.Fatal(err)
	}
	sum, _, _ := strings.Cut(string(out), " ")
	return sum
}

// TestChecksumByHand: the checksum is what the pipeline documented on
// Checksum prints, with the defaults layered in and without them.
func TestChecksumByHand(t *testing.T) {
	defaults, err := filepath.Abs(".") // the default *.hcl files live beside this test
	if err != nil {
		t.Fatal(err)
	}
	site := policyDir(t, map[string]string{"10-site.hcl": siteRule})
	alone := policyDir(t, map[string]string{"10-site.hcl": "agent {\n  defaults = false\n}\n" + siteRule})
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"embedded defaults", Default().Checksum(), sha256sumPipeline(t, defaults)},
		{"no paths", checksumOfLoad(t), sha256sumPipeline(t, defaults)},
		{"a site file over the defaults", checksumOfLoad(t, site), sha256sumPipeline(t, defaults, site)},
		{"a site file without the defaults", checksumOfLoad(t, alone), sha256sumPipeline(t, alone)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.got) != 64 || tt.got != tt.want {
				t.Errorf("Checksum() = %s, the sha256sum pipeline says %s", tt.got, tt.want)
			}
		})
	}
}

// TestChecksumIdentifiesFiles: names and contents count, directories not.
func TestChecksumIdentifiesFiles(t *testing.T) {
	base := checksumOfLoad(t, policyDir(t, map[string]string{"10-site.hcl": siteRule}))
	tests := []struct {
		name  string
		files map[string]string
		same  bool
	}{
		{"same file elsewhere", map[string]string{"10-site.hcl": siteRule}, true},
		{"one byte more", map[string]string{"10-site.hcl": siteRule + "\n"}, false},
		{"renamed", map[string]string{"20-site.hcl": siteRule}, false},
		{"one file more", map[string]string{"10-site.hcl": siteRule, "20-more.hcl": "# nothing\n"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := checksumOfLoad(t, policyDir(t, tt.files))
			if (got == base) != tt.same {
				t.Errorf("checksum %s, base %s: want same=%v", got, base, tt.same)
			}
		})
	}
}
