package netns

import (
	"regexp"
	"slices"
	"strings"

	"github.com/prometheus/procfs"
)

// Container names the container a process runs in, as far as its cgroup path
// says: the runtime and the container id, and the Kubernetes pod UID when the
// container belongs to a pod.
type Container struct {
	// Runtime is "docker", "containerd", "cri-o" or "podman"; empty when
	// the path names no runtime (a bare id below a kubepods cgroup, as
	// containerd and cri-dockerd make with the cgroupfs driver).
	Runtime string `json:"runtime,omitempty"`
	// ID is the runtime's 64-hex-digit container id.
	ID string `json:"id,omitempty"`
	// PodUID is the Kubernetes pod UID in its usual dashed form.
	PodUID string `json:"pod_uid,omitempty"`
	// Name is the container's name in its runtime (docker ps, podman
	// ps), and Pod its pod as "namespace/name", where the host keeps them
	// (see NameSources); empty otherwise.
	Name string `json:"name,omitempty"`
	Pod  string `json:"pod,omitempty"`
}

// String is the container as "runtime://id" (the form Kubernetes prints in
// a pod's containerID), with the pod UID if any.
func (c *Container) String() string {
	if c == nil {
		return ""
	}
	s := c.ID
	if c.Runtime != "" {
		s = c.Runtime + "://" + c.ID
	}
	if c.PodUID != "" {
		if s != "" {
			s += " "
		}
		s += "pod " + c.PodUID
	}
	return s
}

var (
	// scopeRE matches a container's cgroup made by a runtime: systemd
	// scopes ("docker-<id>.scope", "cri-containerd-<id>.scope",
	// "crio-<id>.scope", "libpod-<id>.scope", "nerdctl-<id>.scope") and
	// the cgroupfs driver's "crio-<id>" and "libpod-<id>". The conmon
	// monitors of CRI-O and Podman ("crio-conmon-<id>.scope") run beside
	// the container, in the host's namespace, and do not match.
	scopeRE = regexp.MustCompile(`^(docker|cri-containerd|crio|libpod|nerdctl)-([0-9a-f]{64})(\.scope)?$`)
	// bareIDRE is a container id alone, as the cgroupfs driver names it
	// below /docker or a pod's cgroup.
	bareIDRE = regexp.MustCompile(`^[0-9a-f]{64}$`)
	// podRE matches a pod's cgroup below kubepods: "pod<uid>" with the
	// cgroupfs driver, "kubepods-<qos>-pod<uid>.slice" with the systemd
	// driver, where the UID's dashes become underscores (systemd keeps
	// dashes for the slice hierarchy). Static pods have a 32-hex-digit
	// UID without dashes.
	podRE = regexp.MustCompile(`(?:^|-)pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12}|[0-9a-f]{32})(?:\.slice)?$`)
)

// runtimes maps a scope prefix to the runtime's name.
var runtimes = map[string]string{
	"docker":         "docker",
	"cri-containerd": "containerd",
	"nerdctl":        "containerd",
	"crio":           "cri-o",
	"libpod":         "podman",
}

// ContainerFromPath reads a container from one cgroup path. Where
// containers nest (Kubernetes in Docker, as kind runs it), the innermost
// wins. It returns nil for a path outside any container.
func ContainerFromPath(path string) *Container {
	var c Container
	kube := false
	parent := ""
	for comp := range strings.SplitSeq(path, "/") {
		if comp == "" {
			continue
		}
		if strings.HasPrefix(comp, "kubepods") || strings.HasPrefix(comp, "kubelet-kubepods") {
			kube = true
		}
		switch m := scopeRE.FindStringSubmatch(comp); {
		case m != nil:
			c.Runtime, c.ID = runtimes[m[1]], m[2]
		case bareIDRE.MatchString(comp):
			c.ID, c.Runtime = comp, ""
			if parent == "docker" {
				c.Runtime = "docker"
			}
		case kube:
			if m := podRE.FindStringSubmatch(comp); m != nil {
				c.PodUID = strings.ReplaceAll(m[1], "_", "-")
				// A pod's containers sit below it; an outer
				// container (the kind node) is not the pod's.
				c.Runtime, c.ID = "", ""
			}
		}
		parent = comp
	}
	if c == (Container{}) {
		return nil
	}
	return &c
}

// ContainerFromCgroups reads a process's container from its cgroups
// (/proc/<pid>/cgroup): the unified hierarchy first, then the named systemd
// one, then the controllers', since on cgroup v1 hosts the unified line is
// "0::/" and the runtime's path is in the controllers' lines.
func ContainerFromCgroups(cgroups []procfs.Cgroup) *Container {
	rank := func(cg procfs.Cgroup) int {
		switch {
		case cg.HierarchyID == 0:
			return 0
		case slices.Contains(cg.Controllers, "name=systemd"):
			return 1
		}
		return 2
	}
	sorted := slices.Clone(cgroups)
	slices.SortStableFunc(sorted, func(a, b procfs.Cgroup) int { return rank(a) - rank(b) })
	for _, cg := range sorted {
		if c := ContainerFromPath(cg.Path); c != nil {
			return c
		}
	}
	return nil
}

// UnitFromCgroups returns the systemd unit a process runs in: the first path
// component below the slices, as systemd's cg_path_get_unit() does
// ("/system.slice/nginx.service/worker" → "nginx.service"). It prefers the
// unified (0::) hierarchy and falls back to the named systemd hierarchy on
// cgroup v1 hosts. It returns "" outside units.
func UnitFromCgroups(cgroups []procfs.Cgroup) string {
	var v1 string
	for _, cg := range cgroups {
		switch {
		case cg.HierarchyID == 0:
			if u := UnitFromCgroupPath(cg.Path); u != "" {
				return u
			}
		case len(cg.Controllers) == 1 && cg.Controllers[0] == "name=systemd":
			v1 = UnitFromCgroupPath(cg.Path)
		}
	}
	return v1
}

// UnitFromCgroupPath returns the systemd unit of one cgroup path (see
// UnitFromCgroups), or "".
func UnitFromCgroupPath(path string) string {
	for _, c := range strings.Split(path, "/") {
		if c == "" || strings.HasSuffix(c, ".slice") {
			continue
		}
		for _, suffix := range []string{".service", ".scope", ".socket", ".mount", ".swap"} {
			if strings.HasSuffix(c, suffix) {
				return c
			}
		}
		return ""
	}
	return ""
}
