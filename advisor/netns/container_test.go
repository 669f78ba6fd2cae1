package netns

import (
	"strings"
	"testing"

	"github.com/prometheus/procfs"
)

// The fixture /proc in testdata/proc holds /proc/<pid>/cgroup files of the
// shapes each runtime and cgroup driver makes.
func TestContainerFromCgroupsFixture(t *testing.T) {
	tests := []struct {
		pid  int
		what string
		want *Container
		unit string
	}{
		{1, "host init", nil, "init.scope"},
		{100, "host service", nil, "haproxy.service"},
		{200, "docker, systemd driver", &Container{Runtime: "docker", ID: "3f1c9a2b7e5d4c8a9b0e1f2d3c4b5a6978e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4"}, "docker-3f1c9a2b7e5d4c8a9b0e1f2d3c4b5a6978e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4.scope"},
		{300, "docker, cgroupfs driver, cgroup v1", &Container{Runtime: "docker", ID: "4c0e0a2f8d1b6e3a9c7f5d2b1a0e9f8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a21"}, ""},
		{400, "kubernetes containerd systemd driver: pause", &Container{Runtime: "containerd", ID: strings.Repeat("a1", 32), PodUID: "7d0c5a8e-2f4b-4e1a-9c3d-6b5a4f3e2d1c"}, "cri-containerd-" + strings.Repeat("a1", 32) + ".scope"},
		{401, "kubernetes containerd systemd driver: app", &Container{Runtime: "containerd", ID: strings.Repeat("c3", 32), PodUID: "7d0c5a8e-2f4b-4e1a-9c3d-6b5a4f3e2d1c"}, "cri-containerd-" + strings.Repeat("c3", 32) + ".scope"},
		{500, "kubernetes cgroupfs driver, bare id", &Container{ID: strings.Repeat("d4", 32), PodUID: "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"}, ""},
		{600, "cri-o systemd driver, guaranteed", &Container{Runtime: "cri-o", ID: strings.Repeat("e5", 32), PodUID: "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9"}, "crio-" + strings.Repeat("e5", 32) + ".scope"},
		{601, "cri-o conmon", nil, "crio-conmon-" + strings.Repeat("e5", 32) + ".scope"},
		{700, "podman systemd, payload sub-cgroup", &Container{Runtime: "podman", ID: strings.Repeat("f6", 32)}, "libpod-" + strings.Repeat("f6", 32) + ".scope"},
		{701, "podman conmon", nil, "libpod-conmon-" + strings.Repeat("f6", 32) + ".scope"},
		{800, "podman rootless", &Container{Runtime: "podman", ID: strings.Repeat("a7", 32)}, "user@1000.service"},
		{900, "kind: pod in a docker container", &Container{Runtime: "containerd", ID: strings.Repeat("b8", 32), PodUID: "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"}, "docker-b8e4f0a1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9.scope"},
		{950, "kind node itself", &Container{Runtime: "docker", ID: "b8e4f0a1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9"}, "docker-b8e4f0a1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9.scope"},
		{1000, "static pod, cri-o cgroupfs", &Container{Runtime: "cri-o", ID: strings.Repeat("c9", 32), PodUID: "6f8e2b1c0d9a4e7f8a1b2c3d4e5f6a7b"}, ""},
		{1100, "nerdctl", &Container{Runtime: "containerd", ID: strings.Repeat("d0", 32)}, "nerdctl-" + strings.Repeat("d0", 32) + ".scope"},
		{1200, "podman cgroupfs", &Container{Runtime: "podman", ID: strings.Repeat("e1", 32)}, ""},
		{1300, "service in its own namespace", nil, "lb-agent.service"},
	}
	fs, err := procfs.NewFS("testdata/proc")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			p, err := fs.Proc(tt.pid)
			if err != nil {
				t.Fatal(err)
			}
			cgroups, err := p.Cgroups()
			if err != nil {
				t.Fatal(err)
			}
			got := ContainerFromCgroups(cgroups)
			if (got == nil) != (tt.want == nil) || got != nil && *got != *tt.want {
				t.Errorf("container = %+v, want %+v", got, tt.want)
			}
			if u := UnitFromCgroups(cgroups); u != tt.unit {
				t.Errorf("unit = %q, want %q", u, tt.unit)
			}
		})
	}
}

func TestContainerFromPath(t *testing.T) {
	id := strings.Repeat("ab", 32)
	tests := []struct {
		path string
		want *Container
	}{
		{"/", nil},
		{"/system.slice/docker.service", nil},
		{"/system.slice/containerd.service", nil},
		{"/system.slice/crio.service", nil},
		{"/user.slice/user-0.slice/session-3.scope", nil},
		{"/docker", nil},
		{"/kubepods.slice", nil},
		{"/system.slice/docker-compose@web.service", nil},
		{"/system.slice/docker-" + id[:63] + ".scope", nil},
		{"/system.slice/docker-" + strings.ToUpper(id) + ".scope", nil},
		{"/" + id, &Container{ID: id}},
		{"/docker/" + id, &Container{Runtime: "docker", ID: id}},
		// Docker in Docker: the inner container.
		{"/docker/" + strings.Repeat("11", 32) + "/docker/" + id, &Container{Runtime: "docker", ID: id}},
		// A pod's cgroup alone: the pod without a container.
		{"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0a1b2c3d_4e5f_4a6b_8c7d_9e0f1a2b3c4d.slice", &Container{PodUID: "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"}},
		{"/kubepods/pod0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d/" + id, &Container{ID: id, PodUID: "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"}},
		// "pod" outside kubepods is not a pod.
		{"/system.slice/pod0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d.slice", nil},
		{"/machine.slice/machine-libpod_pod_" + strings.Repeat("cd", 32) + ".slice/libpod-" + id + ".scope", &Container{Runtime: "podman", ID: id}},
		{"/kubepods/besteffort/pod0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d/docker-" + id + ".scope", &Container{Runtime: "docker", ID: id, PodUID: "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"}},
	}
	for _, tt := range tests {
		got := ContainerFromPath(tt.path)
		if (got == nil) != (tt.want == nil) || got != nil && *got != *tt.want {
			t.Errorf("ContainerFromPath(%q) = %+v, want %+v", tt.path, got, tt.want)
		}
	}
}

func TestContainerString(t *testing.T) {
	tests := []struct {
		c    *Container
		want string
	}{
		{nil, ""},
		{&Container{Runtime: "docker", ID: "abc"}, "docker://abc"},
		{&Container{ID: "abc", PodUID: "u-1"}, "abc pod u-1"},
		{&Container{PodUID: "u-1"}, "pod u-1"},
	}
	for _, tt := range tests {
		if got := tt.c.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.c, got, tt.want)
		}
	}
}

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
