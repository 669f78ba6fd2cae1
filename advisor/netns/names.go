package netns

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// NameSources are where a discovery finds the names operators know
// containers by; each is read only from the local host, and a missing one
// names nothing.
type NameSources struct {
	// Machines is systemd-machined's state directory: one file per
	// registered machine (systemd-nspawn, VMs), with the machine's leader
	// process as LEADER=<pid>.
	Machines string
	// Docker is Docker's data root: containers/<id>/config.v2.json holds
	// the container's "Name".
	Docker string
	// Podman is the containers/storage root of Podman (and CRI-O):
	// overlay-containers/containers.json lists each container's names.
	Podman string
	// Pods is the kubelet's pod log directory: one directory per pod,
	// <namespace>_<name>_<uid>.
	Pods string
}

// DefaultNameSources are the places the runtimes use on a Linux host.
var DefaultNameSources = NameSources{
	Machines: "/run/systemd/machines",
	Docker:   "/var/lib/docker",
	Podman:   "/var/lib/containers/storage",
	Pods:     "/var/log/pods",
}

// knownNames are the names one discovery read from the NameSources.
type knownNames struct {
	machines map[uint64]string // namespace inode -> machine name
	pods     map[string]string // pod UID -> "namespace/name"
	podman   map[string]string // container id -> name
	docker   string            // Docker's data root, read per container
}

// readNames reads the names the sources hold now.
func (d *Discoverer) readNames() knownNames {
	return knownNames{
		machines: readMachines(d.Names.Machines, d.procRoot),
		pods:     readPods(d.Names.Pods),
		podman:   readPodman(d.Names.Podman),
		docker:   d.Names.Docker,
	}
}

// sourceDir lists a name source's directory: nothing when it is not set or
// cannot be read (the runtime is not installed here).
func sourceDir(dir string) []os.DirEntry {
	if dir == "" {
		return nil
	}
	entries, _ := os.ReadDir(dir)
	return entries
}

// readMachines maps the network namespace of each registered machine's
// leader to the machine's name. machined keeps one KEY=VALUE file per
// machine, named after it, beside "unit:" symlinks.
func readMachines(dir, procRoot string) map[uint64]string {
	out := map[uint64]string{}
	for _, e := range sourceDir(dir) {
		if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		name, leader := e.Name(), ""
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, _ := strings.Cut(sc.Text(), "=")
			switch k {
			case "NAME":
				name = v
			case "LEADER":
				leader = v
			}
		}
		f.Close()
		if _, err := strconv.Atoi(leader); err != nil {
			continue
		}
		if ino, err := readNetLink(filepath.Join(procRoot, leader, "ns", "net")); err == nil {
			out[ino] = name
		}
	}
	return out
}

// readPods maps pod UIDs to "namespace/name" from the kubelet's pod log
// directories, <namespace>_<name>_<uid>: neither a namespace nor a pod
// name may hold an underscore.
func readPods(dir string) map[string]string {
	out := map[string]string{}
	for _, e := range sourceDir(dir) {
		parts := strings.Split(e.Name(), "_")
		if len(parts) != 3 || !e.IsDir() {
			continue
		}
		out[parts[2]] = parts[0] + "/" + parts[1]
	}
	return out
}

// readPodman maps container ids to their first name from
// containers/storage's container list.
func readPodman(root string) map[string]string {
	out := map[string]string{}
	if root == "" {
		return out
	}
	data, err := os.ReadFile(filepath.Join(root, "overlay-containers", "containers.json"))
	if err != nil {
		return out
	}
	var list []struct {
		ID    string   `json:"id"`
		Names []string `json:"names"`
	}
	if json.Unmarshal(data, &list) != nil {
		return out
	}
	for _, c := range list {
		if len(c.Names) > 0 {
			out[c.ID] = c.Names[0]
		}
	}
	return out
}

// dockerName reads a Docker container's name ("/web" is web) from its
// configuration, or "" when Docker has no such container here.
func dockerName(root, id string) string {
	if root == "" || id == "" || strings.ContainsAny(id, "/.") {
		return ""
	}
	data, err := os.ReadFile(filepath.Join(root, "containers", id, "config.v2.json"))
	if err != nil {
		return ""
	}
	var cfg struct{ Name string }
	if json.Unmarshal(data, &cfg) != nil {
		return ""
	}
	return strings.TrimPrefix(cfg.Name, "/")
}

// name fills in the names of a namespace that is not the host's: the
// machine it is, or its container's name and pod.
func (k knownNames) name(n *Namespace) {
	if n.Host {
		return
	}
	if m, ok := k.machines[n.Inode]; ok {
		n.Machine = m
	}
	if c := n.Container; c != nil {
		named := *c
		if named.PodUID != "" {
			named.Pod = k.pods[named.PodUID]
		}
		if named.ID != "" {
			if named.Runtime == "podman" || named.Runtime == "cri-o" {
				named.Name = k.podman[named.ID]
			}
			if named.Name == "" && (named.Runtime == "docker" || named.Runtime == "") {
				named.Name = dockerName(k.docker, named.ID)
			}
		}
		n.Container = &named
	}
}

// machineFromPath returns the machine name in a cgroup path: the unit of a
// systemd-nspawn container (or VM) started with a machine name is
// machine.slice/machine-NAME.scope, its name escaped as systemd escapes
// unit names ("-" is "\x2d").
func machineFromPath(path string) string {
	for comp := range strings.SplitSeq(path, "/") {
		if name, ok := strings.CutPrefix(comp, "machine-"); ok {
			if name, ok := strings.CutSuffix(name, ".scope"); ok && name != "" {
				return unescapeUnit(name)
			}
		}
	}
	return ""
}

// unescapeUnit undoes systemd's escaping of a unit name: "\xNN" is the
// byte NN.
func unescapeUnit(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && s[i+1] == 'x' {
			if v, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// utsHostname returns the hostname of process pid's UTS namespace, or ""
// when that is the host's own (PID 1's, or this process's) and so says
// nothing about the container. It enters the UTS namespace on a locked
// thread, as Do enters a network namespace.
func utsHostname(procRoot string, pid int) (string, error) {
	nsPath := filepath.Join(procRoot, strconv.Itoa(pid), "ns", "uts")
	var st unix.Stat_t
	if err := unix.Stat(nsPath, &st); err != nil {
		return "", err
	}
	for _, who := range []string{"1", "self"} {
		var host unix.Stat_t
		if unix.Stat(filepath.Join(procRoot, who, "ns", "uts"), &host) == nil && host.Ino == st.Ino {
			return "", nil
		}
	}
	target, err := unix.Open(nsPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", err
	}
	defer unix.Close(target)
	type result struct {
		name string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		origin, err := unix.Open("/proc/thread-self/ns/uts", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			res <- result{err: err}
			return
		}
		defer unix.Close(origin)
		if err := unix.Setns(target, unix.CLONE_NEWUTS); err != nil {
			runtime.UnlockOSThread()
			res <- result{err: fmt.Errorf("setns uts: %w", err)}
			return
		}
		var u unix.Utsname
		uerr := unix.Uname(&u)
		if err := unix.Setns(origin, unix.CLONE_NEWUTS); err != nil {
			// Stay locked: the thread ends with this goroutine.
			res <- result{err: errors.Join(uerr, fmt.Errorf("setns back: %w", err))}
			return
		}
		runtime.UnlockOSThread()
		res <- result{name: unix.ByteSliceToString(u.Nodename[:]), err: uerr}
	}()
	r := <-res
	return r.name, r.err
}
