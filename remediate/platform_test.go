package remediate

import (
	"strings"
	"testing"

	"github.com/tcp-advisor/tcp-advisor/advisor/netns"
)

func TestPlatformTerms(t *testing.T) {
	const id = "4f1c0e9b2d7a6c3e8b5f0a1d2c3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e"
	tests := []struct {
		name      string
		c         *netns.Container
		key, want string
	}{
		{"no container", nil, "net.ipv4.ip_local_port_range", ""},
		{"docker", &netns.Container{Runtime: "docker", ID: id}, "net.ipv4.ip_local_port_range",
			`docker run --sysctl net.ipv4.ip_local_port_range="40000 57383" (compose: sysctls: {net.ipv4.ip_local_port_range: "40000 57383"})`},
		{"podman", &netns.Container{Runtime: "podman", ID: id}, "net.ipv4.ip_local_port_range", "podman run --sysctl"},
		{"pod, safe", &netns.Container{Runtime: "containerd", ID: id, PodUID: "0b7c5e2a-1f3d-4a6b-9c8d-7e6f5a4b3c2d"}, "net.ipv4.ip_local_port_range",
			`securityContext.sysctls: [{name: net.ipv4.ip_local_port_range, value: "40000 57383"}] (a safe sysctl in Kubernetes' terms)`},
		{"pod, safe since 1.29", &netns.Container{PodUID: "0b7c5e2a-1f3d-4a6b-9c8d-7e6f5a4b3c2d"}, "net.ipv4.tcp_fin_timeout", "safe sysctl in Kubernetes' terms from Kubernetes 1.29"},
		{"pod, unsafe", &netns.Container{PodUID: "0b7c5e2a-1f3d-4a6b-9c8d-7e6f5a4b3c2d"}, "net.ipv4.tcp_tw_reuse", "--allowed-unsafe-sysctls=net.ipv4.tcp_tw_reuse"},
		{"other runtime", &netns.Container{Runtime: "cri-o", ID: id}, "net.ipv4.ip_local_port_range", "in the container's definition"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := PlatformTerms(tt.c, tt.key, "40000 57383")
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Errorf("PlatformTerms = %q, want it to hold %q", got, tt.want)
			}
		})
	}
}
