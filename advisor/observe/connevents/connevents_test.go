package connevents

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLockdownMode(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, content, want string
	}{
		{"off", "[none] integrity confidentiality\n", "none"},
		{"integrity", "none [integrity] confidentiality\n", "integrity"},
		{"confidentiality", "none integrity [confidentiality]\n", "confidentiality"},
		{"garbled", "none integrity confidentiality\n", ""},
		{"missing", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name)
			if tt.content != "" {
				if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if got := lockdownMode(path); got != tt.want {
				t.Errorf("lockdownMode(%q) = %q, want %q", tt.content, got, tt.want)
			}
		})
	}
}
