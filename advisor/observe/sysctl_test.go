package observe

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tcp-advisor/tcp-advisor/advisor"
)

func TestReadSysctlsFixture(t *testing.T) {
	s, err := ReadSysctls("testdata/sys")
	if err != nil {
		t.Fatal(err)
	}
	if want := (advisor.PortRange{Low: 40000, High: 40999}); s.PortRange != want {
		t.Errorf("PortRange = %v, want %v", s.PortRange, want)
	}
	if got := s.ReservedPorts.String(); got != "8080,9000-9009" {
		t.Errorf("ReservedPorts = %q", got)
	}
	if s.Raw[KeyPortRange] != "40000 40999" {
		t.Errorf("raw port range %q: tabs not normalized", s.Raw[KeyPortRange])
	}
	if s.TCPTwReuse != 0 || s.TCPFinTimeout != 60 || s.Somaxconn != 4096 {
		t.Errorf("tw_reuse=%d fin_timeout=%d somaxconn=%d", s.TCPTwReuse, s.TCPFinTimeout, s.Somaxconn)
	}
	if s.TCPTwReuseDelayMs == nil || *s.TCPTwReuseDelayMs != 1000 {
		t.Errorf("tcp_tw_reuse_delay = %v, want 1000", s.TCPTwReuseDelayMs)
	}
	if s.TCPMaxOrphans != nil {
		t.Errorf("tcp_max_orphans = %d, want absent (as inside a namespace)", *s.TCPMaxOrphans)
	}
	if got := s.UsablePorts(); got != 1000 {
		t.Errorf("UsablePorts = %d, want 1000 (reserved ports lie outside the range)", got)
	}
}

func TestReadSysctlsErrors(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(root string)
	}{
		{"missing required key", func(root string) { os.Remove(filepath.Join(root, "net/ipv4/tcp_fin_timeout")) }},
		{"bad port range", func(root string) { write(t, root, "net/ipv4/ip_local_port_range", "60999 32768\n") }},
		{"not an integer", func(root string) { write(t, root, "net/ipv4/tcp_tw_reuse", "on\n") }},
		{"bad reserved list", func(root string) { write(t, root, "net/ipv4/ip_local_reserved_ports", "80-\n") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := copyTree(t, "testdata/sys")
			tt.mutate(root)
			if _, err := ReadSysctls(root); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func TestNormalizeValue(t *testing.T) {
	for in, want := range map[string]string{"32768\t60999\n": "32768 60999", " 1 ": "1", "": ""} {
		if got := NormalizeValue(in); got != want {
			t.Errorf("NormalizeValue(%q) = %q, want %q", in, got, want)
		}
	}
}

func write(t *testing.T, root, rel, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(root, rel), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if info.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}
