package observe

import (
	"cmp"
	"slices"

	"github.com/prometheus/procfs"

	"github.com/tcp-advisor/tcp-advisor/advisor"
)

// ownedDestinations is how many of the busiest destinations get the owners of
// their sampled sockets resolved.
const ownedDestinations = 8

// destinationSamples returns sockets standing for the sampled inodes of the
// busiest destinations, for the owner lookup.
func destinationSamples(sum *advisor.SocketSummary) ([]advisor.DestKey, []advisor.DetailedSocket) {
	keys := make([]advisor.DestKey, 0, len(sum.PerDestination))
	for k := range sum.PerDestination {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b advisor.DestKey) int {
		return cmp.Compare(sum.PerDestination[b].InUse, sum.PerDestination[a].InUse)
	})
	keys = keys[:min(len(keys), ownedDestinations)]
	var socks []advisor.DetailedSocket
	for _, k := range keys {
		for _, ino := range sum.PerDestination[k].Inodes {
			if ino != 0 {
				socks = append(socks, advisor.DetailedSocket{ID: advisor.SocketID{Remote: k.Remote}, Inode: ino})
			}
		}
	}
	return keys, socks
}

// destinationOwners collects the resolved owners of the sampled sockets by
// destination.
func destinationOwners(samples []advisor.DetailedSocket, keys []advisor.DestKey, sum *advisor.SocketSummary) map[advisor.DestKey][]advisor.Owner {
	out := map[advisor.DestKey][]advisor.Owner{}
	byInode := map[uint32]*advisor.Owner{}
	for _, s := range samples {
		byInode[s.Inode] = s.Owner
	}
	for _, k := range keys {
		for _, ino := range sum.PerDestination[k].Inodes {
			if o := byInode[ino]; ino != 0 && o != nil {
				out[k] = append(out[k], *o)
			}
		}
	}
	return out
}

// withDescriptors gives each CLOSE_WAIT socket's owner the descriptors its
// process holds and its RLIMIT_NOFILE, read now, on a copy: the owners are
// cached across snapshots, and each snapshot keeps its own count so growth
// shows. A process that is gone keeps its owner without counts.
func withDescriptors(procRoot string, sockets []advisor.DetailedSocket) {
	fs, err := procfs.NewFS(procRoot)
	if err != nil {
		return
	}
	counted := map[int]*advisor.Owner{}
	for i := range sockets {
		o := sockets[i].Owner
		if o == nil || o.PID == 0 {
			continue
		}
		c, ok := counted[o.PID]
		if !ok {
			cp := *o
			c = &cp
			if p, err := fs.Proc(o.PID); err == nil {
				if n, err := p.FileDescriptorsLen(); err == nil {
					c.FDs = n
				}
				if l, err := p.Limits(); err == nil && l.OpenFiles > 0 && l.OpenFiles < 1<<31 {
					c.FDLimit = int(l.OpenFiles)
				}
			}
			counted[o.PID] = c
		}
		sockets[i].Owner = c
	}
}
