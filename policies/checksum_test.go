package policies

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// copyDefaults writes the embedded default policies into a new directory,
// with edit applied to the file contents by name.
func copyDefaults(t *testing.T, edit func(name string, src []byte) (string, []byte)) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range DefaultFiles() {
		if edit != nil {
			name, src = edit(name, src)
		}
		if err := os.WriteFile(filepath.Join(dir, name), src, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func loadForChecksum(t *testing.T, paths ...string) *Set {
	t.Helper()
	set, diags := LoadOrDefault(paths...)
	if diags.HasErrors() {
		t.Fatalf("load %v: %v", paths, diags)
	}
	return set
}

func TestChecksum(t *testing.T) {
	embedded := Default().Checksum()
	if len(embedded) != 64 || strings.Trim(embedded, "0123456789abcdef") != "" {
		t.Fatalf("Default().Checksum() = %q, want 64 hex digits", embedded)
	}
	tests := []struct {
		name string
		edit func(string, []byte) (string, []byte)
		same bool // checksum equals the embedded defaults'
	}{
		{"copy of the defaults", nil, true},
		{"one byte changed", func(n string, src []byte) (string, []byte) {
			if n == "50-close-wait.hcl" {
				src = append(src, '\n')
			}
			return n, src
		}, false},
		{"one file renamed", func(n string, src []byte) (string, []byte) {
			if n == "50-close-wait.hcl" {
				n = "51-close-wait.hcl"
			}
			return n, src
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := loadForChecksum(t, copyDefaults(t, tt.edit)).Checksum()
			if (got == embedded) != tt.same {
				t.Errorf("checksum %s, embedded %s: want same=%v", got, embedded, tt.same)
			}
		})
	}
	// Directories do not count: the same files elsewhere, same checksum.
	a, b := loadForChecksum(t, copyDefaults(t, nil)), loadForChecksum(t, copyDefaults(t, nil))
	if a.Checksum() != b.Checksum() {
		t.Errorf("same files in two directories: %s != %s", a.Checksum(), b.Checksum())
	}
}

// TestChecksumBySha256sum: the checksum is what the documented shell
// pipeline prints in the directory of the packaged defaults.
func TestChecksumBySha256sum(t *testing.T) {
	cmd := exec.Command("sh", "-c", "LC_ALL=C sha256sum *.hcl | sha256sum")
	cmd.Dir = "." // the default *.hcl files live beside this test
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	want, _, _ := strings.Cut(string(out), " ")
	if got := Default().Checksum(); got != want {
		t.Errorf("Default().Checksum() = %s, sha256sum pipeline says %s", got, want)
	}
}
