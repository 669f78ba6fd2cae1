package netns

import (
	"slices"
	"strings"
	"testing"
)

// namedFixture discovers the fixture /proc with the fixture name sources.
func namedFixture(t *testing.T) (*Discoverer, map[uint64]Namespace) {
	t.Helper()
	d := fixtureDiscoverer(t, "testdata/proc", &probeFake{initial: fixtureHost})
	d.Names = NameSources{
		Machines: "testdata/names/machines",
		Docker:   "testdata/names/docker",
		Podman:   "testdata/names/podman",
		Pods:     "testdata/names/pods",
	}
	nss, err := d.Discover()
	if err != nil {
		t.Fatal(err)
	}
	byInode := map[uint64]Namespace{}
	for _, n := range nss {
		byInode[n.Inode] = n
	}
	return d, byInode
}

// TestNamesOperatorsKnow: each container namespace is named as its runtime
// names it — machined's machine, the pod, Docker's and Podman's container
// names — and the rest keep their id or inode.
func TestNamesOperatorsKnow(t *testing.T) {
	_, byInode := namedFixture(t)
	for _, tt := range []struct {
		inode uint64
		want  string
	}{
		{fixtureHost, "host"},
		{4026532200, "web"},                       // docker, systemd driver
		{4026532300, "traefik-edge"},              // docker, cgroupfs driver
		{4026532400, "payments/envoy-7f9c"},       // a pod, from its log directory
		{4026532900, "kube-system/coredns-5d78c"}, // a pod in kind, inside Docker
		{4026532700, "caddy-site"},                // podman
		{4026533200, "web"},                       // podman, cgroupfs
		{4026533300, "lb-blue"},                   // a registered nspawn machine
		{4026532600, "cri-o://e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5 pod 5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9"}, // nothing names it
	} {
		n, ok := byInode[tt.inode]
		if !ok {
			t.Errorf("net:[%d] not found", tt.inode)
			continue
		}
		if got := n.String(); got != tt.want {
			t.Errorf("net:[%d] String() = %q, want %q", tt.inode, got, tt.want)
		}
		if !slices.Contains(n.Names(), tt.want) && !n.Host {
			if n.Container == nil || n.Container.Pod != "" || n.Container.Name != "" {
				t.Errorf("net:[%d] Names() %v lack %q", tt.inode, n.Names(), tt.want)
			}
		}
	}
}

// TestByNameNames: --netns finds a namespace by any of its names, and
// refuses a name two namespaces answer to.
func TestByNameNames(t *testing.T) {
	d, _ := namedFixture(t)
	for name, inode := range map[string]uint64{
		"lb-blue":                              4026533300,
		"payments/envoy-7f9c":                  4026532400,
		"traefik-edge":                         4026532300,
		"3f1c9a2b7e5d":                         4026532200,
		"7d0c5a8e-2f4b-4e1a-9c3d-6b5a4f3e2d1c": 4026532400,
		"net:[4026532700]":                     4026532700,
		"host":                                 fixtureHost,
	} {
		n, err := d.ByName(name)
		if err != nil || n.Inode != inode {
			t.Errorf("ByName(%q) = net:[%d], %v; want net:[%d]", name, n.Inode, err, inode)
		}
	}
	if _, err := d.ByName("web"); err == nil || !strings.Contains(err.Error(), "2 network namespaces answer to \"web\"") {
		t.Errorf("ByName(web), a Docker and a Podman container: %v", err)
	}
	if _, err := d.ByName("nope"); err == nil || !strings.Contains(err.Error(), `no network namespace named "nope"`) {
		t.Errorf("ByName(nope): %v", err)
	}
}

func TestMachineFromPath(t *testing.T) {
	for path, want := range map[string]string{
		`/machine.slice/machine-web1.scope/payload/system.slice/nginx.service`: "web1",
		`/machine.slice/machine-lb\x2dblue.scope`:                              "lb-blue",
		`/machine.slice/libpod-f6f6.scope/container`:                           "",
		`/system.slice/machines.target`:                                        "",
		`/machine.slice/machine-.scope`:                                        "",
	} {
		if got := machineFromPath(path); got != want {
			t.Errorf("machineFromPath(%q) = %q, want %q", path, got, want)
		}
	}
}
