package observe

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/prometheus/procfs"

	"github.com/tcp-advisor/tcp-advisor/advisor"
)

// ReadUDPPorts returns the local ports of the UDP sockets (IPv4 and IPv6) in
// /proc/net/udp and udp6 below procRoot. The port range and the reserved
// list govern UDP's automatic port choice as they govern TCP's, so the ports
// UDP services hold matter when the range grows. udp6 is missing when IPv6
// is disabled.
func ReadUDPPorts(procRoot string) (advisor.PortSet, error) {
	p, err := procfs.NewFS(procRoot)
	if err != nil {
		return nil, err
	}
	var ports []int
	for _, read := range []func() (procfs.NetUDP, error){p.NetUDP, p.NetUDP6} {
		lines, err := read()
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("udp sockets: %w", err)
		}
		for _, l := range lines {
			if l.LocalPort > 0 && l.LocalPort <= 65535 {
				ports = append(ports, int(l.LocalPort))
			}
		}
	}
	return advisor.PortSet{}.Add(ports...), nil
}
