package observe

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"

	"github.com/tcp-advisor/tcp-advisor/advisor"
)

// /proc/net/tcp and /proc/net/tcp6 are the fallback when sock_diag fails:
// the same sockets, as text the kernel formats in get_tcp4_sock(),
// get_tcp6_sock() and get_timewait4_sock() (net/ipv4/tcp_ipv4.c,
// net/ipv6/tcp_ipv6.c). One line per socket:
//
//	sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
//	0: 0100007F:2328 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 ...
//
// Addresses are the in-kernel 32-bit words printed with %08X, so their bytes
// are in host order; ports are printed after ntohs. For a TIME_WAIT socket
// tr is 3 and tm->when the time left in clock ticks (USER_HZ, 100 a
// second). Compared with sock_diag the text has no socket cookie, and a
// listener's tx_queue is 0 rather than its backlog.

// userHZ is USER_HZ, the unit of tm->when: clock_t ticks per second.
const userHZ = 100

// errProcTCPLine is a line /proc/net/tcp would never hold.
var errProcTCPLine = errors.New("/proc/net/tcp: malformed line")

// parseProcNetTCP reads a /proc/net/tcp or /proc/net/tcp6 file and calls
// fn for each socket, until fn returns false. A truncated last line (a
// file that changed as it was read) ends the parse without error; any
// other malformed line is an error.
func parseProcNetTCP(r io.Reader, fn func(diagMsg) bool) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 64*1024)
	first := true
	var bad error
	for sc.Scan() {
		line := sc.Bytes()
		if first {
			first = false
			if bytes.Contains(line, []byte("local_address")) {
				continue
			}
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if bad != nil {
			return bad // a malformed line that was not the last
		}
		m, err := parseProcTCPLine(line)
		if err != nil {
			bad = fmt.Errorf("%w: %q", err, truncate(line, 80))
			continue
		}
		if !fn(m) {
			return nil
		}
	}
	return sc.Err()
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// parseProcTCPLine parses one socket line.
func parseProcTCPLine(line []byte) (diagMsg, error) {
	var f [10][]byte
	n := 0
	for _, field := range bytes.Fields(line) {
		if n == len(f) {
			break
		}
		f[n] = field
		n++
	}
	if n < 10 {
		return diagMsg{}, errProcTCPLine
	}
	var m diagMsg
	var err error
	if m.Local, err = parseProcAddr(f[1]); err != nil {
		return diagMsg{}, err
	}
	if m.Remote, err = parseProcAddr(f[2]); err != nil {
		return diagMsg{}, err
	}
	st, err := strconv.ParseUint(string(f[3]), 16, 8)
	if err != nil {
		return diagMsg{}, errProcTCPLine
	}
	m.State = advisor.TCPState(st)
	tx, rx, ok := splitHexPair(f[4])
	if !ok {
		return diagMsg{}, errProcTCPLine
	}
	m.WQueue, m.RQueue = tx, rx
	tr, when, ok := splitHexPair(f[5])
	if !ok {
		return diagMsg{}, errProcTCPLine
	}
	if tr != 0 {
		m.Expires = uint32(min(uint64(when)*(1000/userHZ), 1<<32-1))
	}
	inode, err := strconv.ParseUint(string(f[9]), 10, 32)
	if err != nil {
		return diagMsg{}, errProcTCPLine
	}
	m.Inode = uint32(inode)
	return m, nil
}

// splitHexPair parses "0000000A:00000001".
func splitHexPair(b []byte) (uint32, uint32, bool) {
	i := bytes.IndexByte(b, ':')
	if i < 0 {
		return 0, 0, false
	}
	x, err1 := strconv.ParseUint(string(b[:i]), 16, 32)
	y, err2 := strconv.ParseUint(string(b[i+1:]), 16, 32)
	return uint32(x), uint32(y), err1 == nil && err2 == nil
}

// parseProcAddr parses "0100007F:2328" (IPv4) or 32 hex digits and a port
// (IPv6); v4-mapped IPv6 addresses are unmapped, as for sock_diag.
func parseProcAddr(b []byte) (netip.AddrPort, error) {
	i := bytes.IndexByte(b, ':')
	if i < 0 {
		return netip.AddrPort{}, errProcTCPLine
	}
	port, err := strconv.ParseUint(string(b[i+1:]), 16, 16)
	if err != nil {
		return netip.AddrPort{}, errProcTCPLine
	}
	var raw [16]byte
	h := b[:i]
	if len(h) != 8 && len(h) != 32 {
		return netip.AddrPort{}, errProcTCPLine
	}
	if _, err := hex.Decode(raw[:len(h)/2], h); err != nil {
		return netip.AddrPort{}, errProcTCPLine
	}
	// Each 32-bit word was printed as a number: its bytes are reversed on
	// a little-endian host.
	for w := 0; w < len(h)/8; w++ {
		word := binary.BigEndian.Uint32(raw[w*4:])
		binary.NativeEndian.PutUint32(raw[w*4:], word)
	}
	var addr netip.Addr
	if len(h) == 8 {
		addr = netip.AddrFrom4([4]byte(raw[:4]))
	} else {
		addr = netip.AddrFrom16(raw).Unmap()
	}
	return netip.AddrPortFrom(addr, uint16(port)), nil
}

// readProcNetTCP aggregates /proc/net/tcp and tcp6 below procRoot like a
// sock_diag dump of states: listeners first (they head each file), then
// the rest. A missing tcp6 (IPv6 disabled) is no error.
func readProcNetTCP(procRoot string, states advisor.StateSet, cfg DumpConfig) (*advisor.SocketSummary, error) {
	states |= advisor.StatesOf(advisor.Listen)
	agg := newAggregator(states, cfg)
	files := []string{filepath.Join(procRoot, "net/tcp"), filepath.Join(procRoot, "net/tcp6")}
	for pass := range 2 {
		for i, path := range files {
			f, err := os.Open(path)
			if i == 1 && errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return nil, err
			}
			err = parseProcNetTCP(f, func(m diagMsg) bool {
				if m.State == advisor.Listen {
					if pass == 0 {
						agg.add(m)
					}
					return true
				}
				if pass == 0 {
					return false // the listening hash is printed first
				}
				if states.Has(m.State) {
					agg.add(m)
				}
				return true
			})
			f.Close()
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
		}
	}
	agg.finish()
	return &agg.sum, nil
}
