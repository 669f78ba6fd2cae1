package observe

import (
	"testing"

	"github.com/prometheus/procfs"
)

func TestUnitFromCgroups(t *testing.T) {
	tests := []struct {
		name string
		in   []procfs.Cgroup
		want string
	}{
		{"service", []procfs.Cgroup{{HierarchyID: 0, Path: "/system.slice/nginx.service"}}, "nginx.service"},
		{"nested in service", []procfs.Cgroup{{HierarchyID: 0, Path: "/system.slice/envoy.service/worker"}}, "envoy.service"},
		{"user session scope", []procfs.Cgroup{{HierarchyID: 0, Path: "/user.slice/user-0.slice/session-3.scope"}}, "session-3.scope"},
		{"root cgroup", []procfs.Cgroup{{HierarchyID: 0, Path: "/"}}, ""},
		{"not a unit", []procfs.Cgroup{{HierarchyID: 0, Path: "/docker/abc"}}, ""},
		{"cgroup v1 named hierarchy", []procfs.Cgroup{
			{HierarchyID: 4, Controllers: []string{"cpu", "cpuacct"}, Path: "/"},
			{HierarchyID: 1, Controllers: []string{"name=systemd"}, Path: "/system.slice/haproxy.service"},
		}, "haproxy.service"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := UnitFromCgroups(tt.in); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseSocketLink(t *testing.T) {
	tests := []struct {
		in   string
		ino  uint32
		isOK bool
	}{
		{"socket:[12345]", 12345, true},
		{"socket:[]", 0, false},
		{"pipe:[12345]", 0, false},
		{"/dev/null", 0, false},
		{"socket:[99999999999]", 0, false},
	}
	for _, tt := range tests {
		ino, ok := parseSocketLink(tt.in)
		if ino != tt.ino || ok != tt.isOK {
			t.Errorf("parseSocketLink(%q) = %d, %v; want %d, %v", tt.in, ino, ok, tt.ino, tt.isOK)
		}
	}
}
