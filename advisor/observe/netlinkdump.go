package observe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/tcp-advisor/tcp-advisor/advisor"
)

// sockDiagByFamily is SOCK_DIAG_BY_FAMILY (include/uapi/linux/sock_diag.h).
const sockDiagByFamily = 20

// tcpDiagGetSock is TCPDIAG_GETSOCK (include/uapi/linux/inet_diag.h), the
// request of the first inet_diag interface. The kernel answers it with
// both address families in one walk of each hash table
// (inet_diag_dump_compat asks for AF_UNSPEC), where SOCK_DIAG_BY_FAMILY
// walks every table once per family.
const tcpDiagGetSock = 18

// sizeofInetDiagReq is struct inet_diag_req, the TCPDIAG_GETSOCK request:
// family, two prefix lengths, ext, the socket id (48 bytes), states, dbs.
const sizeofInetDiagReq = 60

// inetDiagReqCompat encodes a TCPDIAG_GETSOCK request for every TCP socket
// of both families in states, in host byte order.
func inetDiagReqCompat(states advisor.StateSet) []byte {
	b := make([]byte, sizeofInetDiagReq)
	b[0] = unix.AF_UNSPEC
	binary.NativeEndian.PutUint32(b[52:56], uint32(states))
	return b
}

// errDumpInterrupted is a dump the kernel flagged NLM_F_DUMP_INTR: the
// table changed while it was read, so counts may be off; the caller
// retries.
var errDumpInterrupted = errors.New("dump interrupted (NLM_F_DUMP_INTR): the socket table changed during the dump")

// recvBufs holds receive buffers between dumps. The kernel fills each
// recvmsg with one dump skb of at most 32 KiB (netlink_dump caps its
// allocation there), so 64 KiB always holds a whole batch.
var recvBufs = sync.Pool{New: func() any { b := make([]byte, 64*1024); return &b }}

// dumpFamily dumps the TCP sockets of one family whose state is in states
// over NETLINK_SOCK_DIAG, in this process's network namespace (the socket
// is the namespace's), feeding each inet_diag_msg to agg as it arrives.
// It reads straight into one reused buffer and walks the netlink headers
// itself: nothing is allocated per message or per batch, so the dump costs
// little more than the kernel's walk of its hash table.
func dumpFamily(agg *aggregator, family uint8, states advisor.StateSet) error {
	err := netlinkDump(agg, family, states)
	switch {
	case err == nil:
		return nil
	// A kernel built without IPv6 answers the AF_INET6 dump with ENOENT.
	case family == unix.AF_INET6 && errors.Is(err, unix.ENOENT):
		return nil
	// A kernel that refuses TCPDIAG_GETSOCK is asked per family.
	case family == unix.AF_UNSPEC && (errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP)):
		return fmt.Errorf("%w: %w", errBothFamiliesRefused, err)
	}
	name := map[uint8]string{unix.AF_INET: "AF_INET", unix.AF_INET6: "AF_INET6", unix.AF_UNSPEC: "TCPDIAG_GETSOCK"}[family]
	return fmt.Errorf("sock_diag %s dump: %w", name, err)
}

// errBothFamiliesRefused is a kernel refusing the TCPDIAG_GETSOCK request
// that dumps both families at once.
var errBothFamiliesRefused = errors.New("sock_diag: TCPDIAG_GETSOCK refused")

func netlinkDump(agg *aggregator, family uint8, states advisor.StateSet) error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	const seq = 1
	body, typ := (&inetDiagReq{Family: family, States: states}).Serialize(), uint16(sockDiagByFamily)
	if family == unix.AF_UNSPEC {
		body, typ = inetDiagReqCompat(states), tcpDiagGetSock
	}
	req := make([]byte, unix.NLMSG_HDRLEN+len(body))
	binary.NativeEndian.PutUint32(req[0:4], uint32(len(req)))
	binary.NativeEndian.PutUint16(req[4:6], typ)
	binary.NativeEndian.PutUint16(req[6:8], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	binary.NativeEndian.PutUint32(req[8:12], seq)
	copy(req[unix.NLMSG_HDRLEN:], body)
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	bp := recvBufs.Get().(*[]byte)
	defer recvBufs.Put(bp)
	buf := *bp
	interrupted := false
	for {
		n, from, err := unix.Recvfrom(fd, buf, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		if nl, ok := from.(*unix.SockaddrNetlink); !ok || nl.Pid != 0 {
			continue // not from the kernel
		}
		for b := buf[:n]; len(b) >= unix.NLMSG_HDRLEN; {
			l := int(binary.NativeEndian.Uint32(b[0:4]))
			typ := binary.NativeEndian.Uint16(b[4:6])
			flags := binary.NativeEndian.Uint16(b[6:8])
			if l < unix.NLMSG_HDRLEN || l > len(b) {
				return fmt.Errorf("netlink message of %d bytes in a batch of %d", l, len(b))
			}
			if binary.NativeEndian.Uint32(b[8:12]) != seq {
				b = b[min(nlmsgAlign(l), len(b)):]
				continue
			}
			if flags&unix.NLM_F_DUMP_INTR != 0 {
				interrupted = true
			}
			payload := b[unix.NLMSG_HDRLEN:l]
			switch typ {
			case unix.NLMSG_DONE:
				if len(payload) >= 4 {
					if errno := int32(binary.NativeEndian.Uint32(payload)); errno < 0 {
						return unix.Errno(-errno)
					}
				}
				if interrupted {
					return errDumpInterrupted
				}
				return agg.err
			case unix.NLMSG_ERROR:
				if len(payload) < 4 {
					return errors.New("short netlink error message")
				}
				if errno := int32(binary.NativeEndian.Uint32(payload)); errno < 0 {
					return unix.Errno(-errno)
				}
			case sockDiagByFamily, tcpDiagGetSock:
				if !agg.consume(payload) {
					return agg.err
				}
			}
			b = b[min(nlmsgAlign(l), len(b)):]
		}
	}
}

// nlmsgAlign rounds a netlink message length up to NLMSG_ALIGNTO (4).
func nlmsgAlign(l int) int { return (l + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1) }
