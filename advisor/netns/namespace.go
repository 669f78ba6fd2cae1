package netns

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Namespace is one network namespace on the host, as one discovery found it.
// It is a value: the next discovery returns fresh ones. Do enters it.
type Namespace struct {
	// Inode identifies the namespace host-wide while it exists: the inode
	// of its nsfs file ("net:[4026532281]"). The kernel may give a later
	// namespace the same number once this one is gone.
	Inode uint64 `json:"inode"`
	// Name is its name in the named directory (/run/netns, where
	// `ip netns add` and CNI put them); empty for an unnamed one.
	Name string `json:"name,omitempty"`
	// Host marks the initial network namespace, the host's own.
	Host bool `json:"host,omitempty"`
	// Processes are the first Discoverer.MaxProcesses processes holding
	// it, by pid; kernel threads (all in the host's namespace) are not
	// listed.
	Processes []Process `json:"processes"`
	// ProcessCount is how many processes hold it: every /proc/<pid> whose
	// ns/net is this namespace, kernel threads included.
	ProcessCount int `json:"process_count"`
	// Container is the container the namespace belongs to: that of its
	// first listed process, when every listed process runs in a container
	// (in a pod, typically the sandbox "pause" container; the pod UID is
	// the same for all the pod's containers). Nil otherwise, and always
	// for the host's namespace.
	Container *Container `json:"container,omitempty"`
	// Machine is the name of the machine the namespace is, for a
	// systemd-nspawn container (or VM): the name machined registered
	// its leader under, or the name in its processes' cgroup path
	// (machine-NAME.scope).
	Machine string `json:"machine,omitempty"`
	// Hostname is the hostname of its first listed process's UTS
	// namespace, when that is not the host's and nothing else names the
	// namespace.
	Hostname string `json:"hostname,omitempty"`

	// named is the path of the namespace's name; holders the pids seen
	// holding it, ascending; procRoot the /proc they were seen in. Do
	// enters through them.
	named    string
	holders  []int
	procRoot string
}

// Process is a process holding a namespace.
type Process struct {
	PID     int    `json:"pid"`
	Command string `json:"command"`
	// Unit is the systemd unit from the cgroup path; empty outside units.
	Unit string `json:"unit,omitempty"`
	// Container is the container the process runs in, if its cgroup path
	// names one.
	Container *Container `json:"container,omitempty"`
}

// String names the namespace as the operator knows it: "host", the name
// `ip netns` gave it, the machine name of an nspawn container, the pod
// ("namespace/name"), the Docker or Podman container name, the hostname
// its container set, the container's id, or, failing all of them,
// "net:[inode]" with its first process.
func (n Namespace) String() string {
	switch {
	case n.Host:
		return "host"
	case n.Name != "":
		return n.Name
	case n.Machine != "":
		return n.Machine
	case n.Container != nil && n.Container.Pod != "":
		return n.Container.Pod
	case n.Container != nil && n.Container.Name != "":
		return n.Container.Name
	case n.Hostname != "":
		return n.Hostname
	case n.Container != nil:
		return n.Container.String()
	case len(n.Processes) > 0:
		return fmt.Sprintf("net:[%d] (%s %d)", n.Inode, n.Processes[0].Command, n.Processes[0].PID)
	}
	return fmt.Sprintf("net:[%d]", n.Inode)
}

// Names returns every name the namespace answers to, as --netns takes
// them: "host", its `ip netns` name, machine name, pod, container name,
// hostname, container id (whole or its first 12 digits), pod UID and
// "net:[inode]".
func (n Namespace) Names() []string {
	var out []string
	add := func(s string) {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	if n.Host {
		add("host")
	}
	add(n.Name)
	add(n.Machine)
	if c := n.Container; c != nil {
		add(c.Pod)
		add(c.Name)
	}
	add(n.Hostname)
	if c := n.Container; c != nil {
		add(c.ID)
		add(c.ID[:min(12, len(c.ID))])
		add(c.PodUID)
	}
	add(fmt.Sprintf("net:[%d]", n.Inode))
	return out
}

// Compare orders namespaces the way Discover lists them: the host's first,
// then the named ones by name, then the rest by inode.
func Compare(a, b Namespace) int {
	switch {
	case a.Host != b.Host:
		if a.Host {
			return -1
		}
		return 1
	case (a.Name == "") != (b.Name == ""):
		if a.Name != "" {
			return -1
		}
		return 1
	}
	return cmp.Or(strings.Compare(a.Name, b.Name), cmp.Compare(a.Inode, b.Inode))
}

// Find returns the namespace with the given inode.
func Find(nss []Namespace, inode uint64) (Namespace, bool) {
	for _, n := range nss {
		if n.Inode == inode {
			return n, true
		}
	}
	return Namespace{}, false
}
