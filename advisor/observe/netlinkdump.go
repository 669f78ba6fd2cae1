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
	// A kernel built without IPv6 answers the AF_INET6 dump with ENOENT.
	if family == unix.AF_INET6 && errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		name := "AF_INET"
		if family == unix.AF_INET6 {
			name = "AF_INET6"
		}
		return fmt.Errorf("sock_diag %s dump: %w", name, err)
	}
	return nil
}

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
	body := (&inetDiagReq{Family: family, States: states}).Serialize()
	req := make([]byte, unix.NLMSG_HDRLEN+len(body))
	binary.NativeEndian.PutUint32(req[0:4], uint32(len(req)))
	binary.NativeEndian.PutUint16(req[4:6], sockDiagByFamily)
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
			case sockDiagByFamily:
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
