package sysctl_test

import (
	"errors"
	"io/fs"
	"testing"

	"github.com/tcp-advisor/tcp-advisor/advisor/netns"
	"github.com/tcp-advisor/tcp-advisor/advisor/sysctl"
	"github.com/tcp-advisor/tcp-advisor/internal/netnstest"
)

// TestKernelSysctlsInNamespace writes sysctls through NewIn into one
// of three scratch namespaces and checks that only that one changed: the
// other two and the test host's own namespace keep their values (read before
// and after; the host's are only ever read).
func TestKernelSysctlsInNamespace(t *testing.T) {
	netnstest.RequireTools(t, "ip", "unshare", "nsenter", "sysctl")
	keys := []string{"net.ipv4.ip_local_port_range", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_tw_reuse"}
	hostBefore := map[string]string{}
	for _, k := range keys {
		hostBefore[k] = netnstest.HostSysctl(t, k)
	}
	target := netnstest.New(t)
	other := netnstest.New(t)
	unnamed := netnstest.Unnamed(t, "", "sleep", "300")
	other.SetSysctl(t, "net.ipv4.tcp_fin_timeout", "45")
	otherBefore, unnamedBefore := map[string]string{}, map[string]string{}
	for _, k := range keys {
		otherBefore[k] = other.Sysctl(t, k)
		unnamedBefore[k] = unnamed.Sysctl(t, k)
	}

	nss, err := netns.NewDiscoverer("/proc", "/run/netns").Discover()
	if err != nil {
		t.Fatal(err)
	}
	n, ok := netns.Find(nss, target.Inode(t))
	if !ok {
		t.Fatalf("namespace %s not discovered", target.Name)
	}
	s, err := sysctl.NewIn(n, "/proc/sys")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"net.ipv4.ip_local_port_range": "40000 49999",
		"net.ipv4.tcp_fin_timeout":     "20",
		"net.ipv4.tcp_tw_reuse":        "1",
	}
	for _, k := range keys {
		if err := s.Set(k, want[k]); err != nil {
			t.Fatalf("set %s: %v", k, err)
		}
		if got, err := s.Get(k); err != nil || got != want[k] {
			t.Errorf("get %s = %q, %v; want %q", k, got, err, want[k])
		}
		if got := target.Sysctl(t, k); got != want[k] {
			t.Errorf("%s in %s = %q, want %q", k, target.Name, got, want[k])
		}
		if got := other.Sysctl(t, k); got != otherBefore[k] {
			t.Errorf("%s in the other named namespace changed: %q → %q", k, otherBefore[k], got)
		}
		if got := unnamed.Sysctl(t, k); got != unnamedBefore[k] {
			t.Errorf("%s in the unnamed namespace changed: %q → %q", k, unnamedBefore[k], got)
		}
		if got := netnstest.HostSysctl(t, k); got != hostBefore[k] {
			t.Errorf("%s on the test host changed: %q → %q", k, hostBefore[k], got)
		}
	}
	// tcp_max_orphans is global: absent inside a namespace that is not the
	// initial one, so a write there is refused, not made on the host.
	if _, err := s.Get("net.ipv4.tcp_max_orphans"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("get tcp_max_orphans in a namespace: %v, want not found", err)
	}
	if err := s.Set("net.ipv4.tcp_max_orphans", "1024"); err == nil {
		t.Error("tcp_max_orphans written inside a namespace")
	}
}
