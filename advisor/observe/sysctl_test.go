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
	if want := (advisor.PortRange{Low: 40000, High: 40999}); s.PortRange() != want {
		t.Errorf("PortRange = %v, want %v", s.PortRange(), want)
	}
	if got := s.ReservedPorts().String(); got != "8080,9000-9009" {
		t.Errorf("ReservedPorts = %q", got)
	}
	if v, _ := s.Value(advisor.KeyPortRange); v != "40000 40999" {
		t.Errorf("port range %q: tabs not normalized", v)
	}
	if s.Int(advisor.KeyTwReuse) != 0 || s.Int(advisor.KeyFinTimeout) != 60 || s.Int(advisor.KeySomaxconn) != 4096 {
		t.Errorf("tw_reuse=%d fin_timeout=%d somaxconn=%d", s.Int(advisor.KeyTwReuse), s.Int(advisor.KeyFinTimeout), s.Int(advisor.KeySomaxconn))
	}
	if !s.Has(advisor.KeyTwReuseDelay) || s.Int(advisor.KeyTwReuseDelay) != 1000 {
		t.Errorf("tcp_tw_reuse_delay = %d, want 1000", s.Int(advisor.KeyTwReuseDelay))
	}
	if s.Has(advisor.KeyMaxOrphans) || s.InitialNamespace() {
		t.Error("tcp_max_orphans present: want it absent, as inside a namespace")
	}
	if got := s.UsablePorts(); got != 1000 {
		t.Errorf("UsablePorts = %d, want 1000 (reserved ports lie outside the range)", got)
	}
	if len(s.Keys()) != len(advisor.Registry())-1 {
		t.Errorf("read %d keys, want every registered key but tcp_max_orphans: %v", len(s.Keys()), s.Keys())
	}
}

func TestReadSysctlsOptionalKeys(t *testing.T) {
	root := copyTree(t, "testdata/sys")
	os.Remove(filepath.Join(root, "net/ipv4/tcp_tw_reuse_delay")) // before Linux 6.14
	s, err := ReadSysctls(root)
	if err != nil {
		t.Fatal(err)
	}
	if s.Has(advisor.KeyTwReuseDelay) || s.Int(advisor.KeyTwReuseDelay) != 1000 {
		t.Errorf("absent tcp_tw_reuse_delay reads as %d, want the fixed 1000 ms", s.Int(advisor.KeyTwReuseDelay))
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
