package remediate

import (
	"fmt"

	"github.com/tcp-advisor/tcp-advisor/advisor/netns"
)

// kubernetesSafe are the sysctls of tcp-advisor's allow-list that
// Kubernetes calls safe: a pod sets them in securityContext.sysctls
// without the kubelet allowing them, from the Kubernetes version given
// ("" for every version tcp-advisor knows). Any other needs the kubelet's
// --allowed-unsafe-sysctls. (pkg/kubelet/sysctl/safe_sysctls.go.)
var kubernetesSafe = map[string]string{
	"net.ipv4.ip_local_port_range":        "",
	"net.ipv4.tcp_syncookies":             "",
	"net.ipv4.ip_unprivileged_port_start": "",
	"net.ipv4.ip_local_reserved_ports":    "1.27",
	"net.ipv4.tcp_fin_timeout":            "1.29",
}

// PlatformTerms says how to keep key = value in the definition of the
// container c runs, since a value written into a container's or pod's
// network namespace is lost when it is recreated, and no sysctl.d file
// configures that namespace: `docker run --sysctl` and compose `sysctls:`
// for Docker and Podman, the pod's securityContext.sysctls for Kubernetes.
// It is "" for no container.
func PlatformTerms(c *netns.Container, key, value string) string {
	switch {
	case c == nil:
		return ""
	case c.PodUID != "":
		safe := "an unsafe sysctl in Kubernetes' terms: the node's kubelet must allow it (--allowed-unsafe-sysctls=" + key + ")"
		if since, ok := kubernetesSafe[key]; ok {
			safe = "a safe sysctl in Kubernetes' terms"
			if since != "" {
				safe += " from Kubernetes " + since
			}
		}
		return fmt.Sprintf("to keep it when pod %s is recreated, set it in the pod's spec: securityContext.sysctls: [{name: %s, value: %q}] (%s)", c.PodUID, key, value, safe)
	case c.Runtime == "docker" || c.Runtime == "podman" || c.Runtime == "nerdctl":
		return fmt.Sprintf("to keep it when container %.12s is recreated, start it with %s run --sysctl %s=%q (compose: sysctls: {%s: %q})", c.ID, c.Runtime, key, value, key, value)
	}
	return fmt.Sprintf("to keep it when container %s is recreated, set %s = %q in the container's definition (its runtime's sysctl setting)", c, key, value)
}

// WithPlatform returns the plan for a namespace of container c, each change
// saying how to keep it in the container's platform terms.
func (p Plan) WithPlatform(c *netns.Container) Plan {
	if c == nil {
		return p
	}
	changes := make([]Change, len(p.Changes))
	for i, ch := range p.Changes {
		ch.Platform = PlatformTerms(c, ch.Key, ch.To)
		changes[i] = ch
	}
	p.Changes = changes
	return p
}
