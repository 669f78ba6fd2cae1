package sysctl

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckWritable(t *testing.T) {
	root := t.TempDir()
	for rel, dir := range map[string]bool{"net/ipv4/tcp_fin_timeout": false, "net/ipv4/ip_local_port_range": true} {
		p := filepath.Join(root, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if dir {
			os.Mkdir(p, 0o755) // opening it for writing fails, whoever runs the test
		} else {
			os.WriteFile(p, []byte("60\n"), 0o644)
		}
	}
	// A symlink is not followed, as set does not follow one.
	if err := os.Symlink("tcp_fin_timeout", filepath.Join(root, "net/ipv4/tcp_tw_reuse")); err != nil {
		t.Fatal(err)
	}
	s, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		keys []string
		want string // "" for no error
	}{
		{[]string{"net.ipv4.tcp_fin_timeout"}, ""},
		{[]string{"net.ipv4.tcp_tw_reuse_delay"}, ""}, // missing here: skipped
		{[]string{"net.ipv4.tcp_fin_timeout", "net.ipv4.ip_local_port_range"}, "cannot write net.ipv4.ip_local_port_range (open " + filepath.Join(root, "net/ipv4/ip_local_port_range") + ": is a directory)"},
		{[]string{"net.ipv4.ip_local_port_range", "net.ipv4.tcp_fin_timeout", "net.ipv4.ip_local_port_range"}, "cannot write net.ipv4.ip_local_port_range and net.ipv4.ip_local_port_range (open "},
		{[]string{"net.ipv4.tcp_tw_reuse"}, "cannot write net.ipv4.tcp_tw_reuse (open " + filepath.Join(root, "net/ipv4/tcp_tw_reuse") + ": too many levels of symbolic links)"},
		{nil, ""},
	} {
		err := s.CheckWritable(tt.keys...)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%v: %v", tt.keys, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%v: %v, want %q", tt.keys, err, tt.want)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(root, "net/ipv4/tcp_fin_timeout")); string(b) != "60\n" {
		t.Errorf("the check changed the file: %q", b)
	}
}
