// Command diagfloor is the floor for observing a socket table: one raw
// sock_diag dump of every TCP socket (IPv4 and IPv6 in one request, all
// states, no extensions) into a large buffer, counting the messages and nothing else.
// `make bench` times it beside `tcp-advisor diagnose` and `ss -tan`.
//
//	diagfloor        prints the number of sockets
package main

import (
	"encoding/binary"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

func main() {
	n, err := count()
	if err != nil {
		fmt.Fprintln(os.Stderr, "diagfloor:", err)
		os.Exit(1)
	}
	fmt.Println(n)
}

func count() (int, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	buf := make([]byte, 64*1024) // one dump skb is at most 32 KiB
	total := 0
	// One TCPDIAG_GETSOCK request dumps both families in one walk of each
	// hash table, as tcp-advisor asks.
	{
		// struct nlmsghdr (16) + struct inet_diag_req (60).
		req := make([]byte, 76)
		binary.NativeEndian.PutUint32(req[0:4], 76)
		binary.NativeEndian.PutUint16(req[4:6], 18) // TCPDIAG_GETSOCK
		binary.NativeEndian.PutUint16(req[6:8], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
		binary.NativeEndian.PutUint32(req[8:12], 1)
		req[16] = unix.AF_UNSPEC
		binary.NativeEndian.PutUint32(req[68:72], 0xffffffff) // every state
		if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
			return 0, err
		}
	recv:
		for {
			n, _, err := unix.Recvfrom(fd, buf, 0)
			if err != nil {
				return 0, err
			}
			for b := buf[:n]; len(b) >= 16; {
				l := int(binary.NativeEndian.Uint32(b[0:4]))
				typ := binary.NativeEndian.Uint16(b[4:6])
				if typ == unix.NLMSG_DONE {
					break recv
				}
				if typ == unix.NLMSG_ERROR {
					errno := int32(binary.NativeEndian.Uint32(b[16:20]))
					return 0, unix.Errno(-errno)
				}
				total++
				l = (l + 3) &^ 3
				if l < 16 || l > len(b) {
					break
				}
				b = b[l:]
			}
		}
	}
	return total, nil
}
