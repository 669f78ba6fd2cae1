// Package netns finds the network namespaces of a host and enters them, so
// that one tcp-advisor on the host can observe and tune every container's and
// pod's TCP stack: each namespace has its own sockets and its own
// ip_local_port_range, ip_local_reserved_ports, tcp_tw_reuse,
// tcp_fin_timeout, tcp_max_tw_buckets and somaxconn, so a proxy in a
// container can run out of ports while the host looks idle.
//
// # Discovery
//
// A Discoverer walks /proc once per Discover: each /proc/<pid>/ns/net link
// ("net:[inode]") names the namespace the process is in, so a namespace held
// only by a container's processes is found. Named namespaces come from
// /run/netns, where `ip netns add` and CNI plugins bind-mount them; a named
// namespace may have no process at all. A namespace is identified by its
// nsfs inode. For each, the first few holding processes are listed with
// their command, systemd unit and, where the cgroup path says so, their
// container: Docker, containerd (CRI and nerdctl), CRI-O or Podman id and
// Kubernetes pod UID, for both the cgroupfs and systemd cgroup drivers.
//
// The host's own namespace, the initial one, is marked Host: it is the one
// the kernel threads live in, or, when no kernel thread is visible, the one
// of PID 1 or of this process in which /proc/sys/net/ipv4/tcp_max_orphans
// exists (that sysctl is global and registered for the initial namespace
// only). Discovery assumes it runs on the host: in the initial PID namespace
// with the host's /proc and /run/netns, as root; without root it sees only
// the caller's own processes.
//
// # Observing inside a namespace
//
// Namespace.Do runs a function on an OS thread that setns(2) has moved into
// the namespace, and moves it back after. observe.NewIn and
// sysctl.NewIn (advisor/sysctl) take an Enterer, such as a Namespace, and do their reads and writes
// through Do: /proc/sys/net resolves a key in the opening thread's
// namespace, /proc/<tid>/net shows the thread's namespace's counters, and a
// sock_diag netlink socket dumps the sockets of the namespace it was created
// in. The owners of sockets are found through every process's
// /proc/<pid>/fd, since socket inodes are unique host-wide.
//
// An agent keeps one observer per namespace inode across ticks (it caches
// socket owners) and hands it a *Namespace that it overwrites with each
// discovery's value, so Do enters through the latest names and holders:
//
//	type watch struct {
//		ns  *netns.Namespace
//		obs *observe.Observer
//	}
//	watching := map[uint64]*watch{}
//	d := netns.NewDiscoverer("/proc", "/run/netns")
//	// each tick:
//	nss, err := d.Discover()
//	for _, n := range nss {
//		w := watching[n.Inode]
//		if w == nil {
//			w = &watch{ns: new(netns.Namespace)}
//			w.obs = observe.NewIn(w.ns, "/proc", "/proc/sys")
//			watching[n.Inode] = w
//		}
//		*w.ns = n
//		snap, err := w.obs.Observe(observe.Quiet)
//		...
//	}
//
// and forgets the inodes a discovery no longer returns.
package netns
