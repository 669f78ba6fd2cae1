package netns

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const fixtureHost = 4026531840

// probeFake stands in for the probe from inside, which needs the real /proc:
// it says which inode is the initial namespace and counts its calls.
type probeFake struct {
	initial uint64
	calls   []uint64
}

func (p *probeFake) isInitial(n Namespace) (bool, error) {
	p.calls = append(p.calls, n.Inode)
	return n.Inode == p.initial, nil
}

func fixtureDiscoverer(t *testing.T, procRoot string, probe *probeFake) *Discoverer {
	t.Helper()
	named := t.TempDir()
	// Left behind by an interrupted `ip netns add`: a plain file, no
	// namespace mounted on it.
	if err := os.WriteFile(filepath.Join(named, "stale"), nil, 0o444); err != nil {
		t.Fatal(err)
	}
	d := NewDiscoverer(procRoot, named)
	d.isInitial = probe.isInitial
	d.Names = NameSources{} // not the host's containers
	return d
}

func TestDiscoverFixture(t *testing.T) {
	probe := &probeFake{initial: fixtureHost}
	d := fixtureDiscoverer(t, "testdata/proc", probe)
	nss, err := d.Discover()
	if err != nil {
		t.Fatal(err)
	}
	type summary struct {
		inode    uint64
		host     bool
		pids     []int
		count    int
		runtime  string
		podUID   string
		commands []string
	}
	want := []summary{
		// Kernel threads (2, 3, 1500) count but are not listed; they
		// say which namespace is the host's.
		{fixtureHost, true, []int{1, 100, 601, 701}, 7, "", "", []string{"systemd", "haproxy", "conmon", "conmon"}},
		{4026532200, false, []int{200, 201}, 2, "docker", "", []string{"nginx", "nginx"}},
		{4026532300, false, []int{300}, 1, "docker", "", []string{"traefik"}},
		// The pod's sandbox comes first by pid.
		{4026532400, false, []int{400, 401}, 2, "containerd", "7d0c5a8e-2f4b-4e1a-9c3d-6b5a4f3e2d1c", []string{"pause", "envoy"}},
		{4026532500, false, []int{500}, 1, "", "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", []string{"ingress-nginx"}},
		{4026532600, false, []int{600}, 1, "cri-o", "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9", []string{"haproxy"}},
		{4026532700, false, []int{700}, 1, "podman", "", []string{"caddy"}},
		{4026532800, false, []int{800}, 1, "podman", "", []string{"node"}},
		{4026532900, false, []int{900}, 1, "containerd", "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a", []string{"coredns"}},
		{4026532950, false, []int{950}, 1, "docker", "", []string{"systemd"}},
		{4026533000, false, []int{1000}, 1, "cri-o", "6f8e2b1c0d9a4e7f8a1b2c3d4e5f6a7b", []string{"kube-apiserver"}},
		{4026533100, false, []int{1100}, 1, "containerd", "", []string{"redis-server"}},
		{4026533200, false, []int{1200}, 1, "podman", "", []string{"httpd"}},
		{4026533300, false, []int{1300, 1301}, 2, "", "", []string{"lb-agent", "sleep"}},
	}
	if len(nss) != len(want) {
		t.Fatalf("%d namespaces, want %d: %+v", len(nss), len(want), nss)
	}
	for i, w := range want {
		n := nss[i]
		var pids []int
		var commands []string
		for _, p := range n.Processes {
			pids = append(pids, p.PID)
			commands = append(commands, p.Command)
		}
		got := summary{n.Inode, n.Host, pids, n.ProcessCount, "", "", commands}
		if n.Container != nil {
			got.runtime, got.podUID = n.Container.Runtime, n.Container.PodUID
		}
		wantContainer := w.runtime != "" || w.podUID != ""
		if !slices.Equal(got.pids, w.pids) || !slices.Equal(got.commands, w.commands) ||
			got.inode != w.inode || got.host != w.host || got.count != w.count ||
			got.runtime != w.runtime || got.podUID != w.podUID || (n.Container != nil) != wantContainer {
			t.Errorf("namespace %d = %+v, want %+v", i, got, w)
		}
		if n.Name != "" {
			t.Errorf("namespace %d named %q: the stale name is no namespace", i, n.Name)
		}
	}
	if len(probe.calls) != 0 {
		t.Errorf("probed %v: kernel threads were seen", probe.calls)
	}
	if s := nss[0].String(); s != "host" {
		t.Errorf("host String() = %q", s)
	}
	if s := nss[len(nss)-1].String(); s != "net:[4026533300] (lb-agent 1300)" {
		t.Errorf("String() = %q", s)
	}
}

// With one process listed per namespace, discovery stops before pid 2 and
// sees no kernel thread: it falls back to probing PID 1's namespace, once.
func TestDiscoverProbesWithoutKernelThreads(t *testing.T) {
	probe := &probeFake{initial: fixtureHost}
	d := fixtureDiscoverer(t, "testdata/proc", probe)
	d.MaxProcesses = 1
	for range 2 {
		nss, err := d.Discover()
		if err != nil {
			t.Fatal(err)
		}
		if len(nss) != 14 {
			t.Fatalf("%d namespaces, want 14", len(nss))
		}
		if !nss[0].Host || nss[0].Inode != fixtureHost || len(nss[0].Processes) != 1 || nss[0].ProcessCount != 7 {
			t.Errorf("first namespace = %+v, want the host's with 1 of 7 processes listed", nss[0])
		}
		for _, n := range nss[1:] {
			if n.Host || len(n.Processes) != 1 {
				t.Errorf("%v: host %v, %d processes listed", n, n.Host, len(n.Processes))
			}
		}
	}
	if !slices.Equal(probe.calls, []uint64{fixtureHost}) {
		t.Errorf("probes = %v, want one of PID 1's namespace", probe.calls)
	}
}

// Seen from a PID namespace (an agent in a container sharing the host's
// network), PID 1 is the container's init in its own network namespace; the
// agent's own is the host's.
func TestDiscoverFromPIDNamespace(t *testing.T) {
	probe := &probeFake{initial: fixtureHost}
	d := fixtureDiscoverer(t, "testdata/pidns", probe)
	for range 2 {
		nss, err := d.Discover()
		if err != nil {
			t.Fatal(err)
		}
		if len(nss) != 2 || !nss[0].Host || nss[0].Inode != fixtureHost || nss[1].Host {
			t.Fatalf("namespaces = %+v, want the host's first", nss)
		}
		if nss[1].ProcessCount != 2 || nss[1].Processes[0].Command != "tini" {
			t.Errorf("container namespace = %+v", nss[1])
		}
	}
	if !slices.Equal(probe.calls, []uint64{4026532777, fixtureHost}) {
		t.Errorf("probes = %v, want PID 1's then our own, once each", probe.calls)
	}
}

// When no candidate is the initial namespace, none is marked, and each
// candidate is probed only once.
func TestDiscoverNoHostVisible(t *testing.T) {
	probe := &probeFake{initial: 1}
	d := fixtureDiscoverer(t, "testdata/pidns", probe)
	for range 3 {
		nss, err := d.Discover()
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range nss {
			if n.Host {
				t.Errorf("%d marked as host", n.Inode)
			}
		}
	}
	if len(probe.calls) != 2 {
		t.Errorf("probes = %v, want 2", probe.calls)
	}
}

func TestDiscoverMissingProc(t *testing.T) {
	if _, err := NewDiscoverer(filepath.Join(t.TempDir(), "none"), "/nonexistent").Discover(); err == nil {
		t.Error("no error without /proc")
	}
}

func TestParseNetLink(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"net:[4026531840]", 4026531840, true},
		{"net:[]", 0, false},
		{"mnt:[4026531840]", 0, false},
		{"net:[40265318x0]", 0, false},
		{"socket:[12]", 0, false},
	}
	for _, tt := range tests {
		got, err := parseNetLink(tt.in)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("parseNetLink(%q) = %d, %v", tt.in, got, err)
		}
	}
}

// A listed process's cgroup is read once; it is read again when the pid
// names a new process (another start time).
func TestDiscoverCachesProcesses(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "10")
	if err := os.MkdirAll(filepath.Join(dir, "ns"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("net:[4026532010]", filepath.Join(dir, "ns", "net")); err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	stat := func(start int) string {
		// The whole line, as the kernel writes it: starttime is field 22.
		return "10 (proxy) S 1 10 10 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 " + strconv.Itoa(start) +
			" 5246976 963 18446744073709551615 1 1 1 0 0 0 65536 4 1132560123 1 0 0 17 0 0 0 0 0 0 1 1 1 1 1 1 1 0\n"
	}
	docker := "0::/system.slice/docker-" + strings.Repeat("1a", 32) + ".scope\n"
	podman := "0::/machine.slice/libpod-" + strings.Repeat("2b", 32) + ".scope\n"
	write("stat", stat(100))
	write("cgroup", docker)
	d := fixtureDiscoverer(t, root, &probeFake{})
	runtimeOf := func() string {
		t.Helper()
		nss, err := d.Discover()
		if err != nil {
			t.Fatal(err)
		}
		if len(nss) != 1 || nss[0].Container == nil {
			t.Fatalf("namespaces = %+v", nss)
		}
		return nss[0].Container.Runtime
	}
	if got := runtimeOf(); got != "docker" {
		t.Fatalf("runtime = %q", got)
	}
	write("cgroup", podman)
	if got := runtimeOf(); got != "docker" {
		t.Errorf("same process: runtime = %q, want the remembered docker", got)
	}
	write("stat", stat(200))
	if got := runtimeOf(); got != "podman" {
		t.Errorf("new process with the pid: runtime = %q, want podman", got)
	}
}
