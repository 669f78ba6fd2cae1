package systemd

import (
	"bytes"
	"encoding/binary"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/coreos/go-systemd/v22/journal"
)

// journalSocket is where journald takes native-protocol datagrams.
const journalSocket = "/run/systemd/journal/socket"

// journalSender writes entries to journald over a connected, unbound
// unix datagram socket. go-systemd's journal.Send first binds its socket to
// an abstract address (autobind), which leaves the agent with a socket any
// process in its network namespace can send to; a connected socket with no
// address receives nothing. Entries are small (one line and a few fields),
// so the fd-passing path journal.Send keeps for large ones is not needed:
// one that is too large fails and the Logger writes it to stderr instead.
type journalSender struct {
	path string
	mu   sync.Mutex
	conn *net.UnixConn
}

// dialJournal returns a sender if journald's socket accepts a connection.
func dialJournal(path string) *journalSender {
	j := &journalSender{path: path}
	if err := j.dial(); err != nil {
		return nil
	}
	return j
}

func (j *journalSender) dial() error {
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: j.path, Net: "unixgram"})
	if err != nil {
		return err
	}
	j.conn = c
	return nil
}

// send has journal.Send's signature. A write that fails (journald
// restarted) redials once.
func (j *journalSender) send(message string, priority journal.Priority, vars map[string]string) error {
	data := encodeJournal(message, priority, vars)
	j.mu.Lock()
	defer j.mu.Unlock()
	var err error
	for range 2 {
		if j.conn == nil {
			if err = j.dial(); err != nil {
				return err
			}
		}
		if _, err = j.conn.Write(data); err == nil {
			return nil
		}
		j.conn.Close()
		j.conn = nil
	}
	return err
}

// encodeJournal writes journald's native protocol: "NAME=value\n", or, for
// a value holding a newline, "NAME\n", its length as a little-endian
// uint64, the value and "\n" (binary-safe).
func encodeJournal(message string, priority journal.Priority, vars map[string]string) []byte {
	var b bytes.Buffer
	field := func(name, value string) {
		if !strings.ContainsRune(value, '\n') {
			b.WriteString(name)
			b.WriteByte('=')
			b.WriteString(value)
			b.WriteByte('\n')
			return
		}
		b.WriteString(name)
		b.WriteByte('\n')
		_ = binary.Write(&b, binary.LittleEndian, uint64(len(value)))
		b.WriteString(value)
		b.WriteByte('\n')
	}
	field("PRIORITY", strconv.Itoa(int(priority)))
	field("MESSAGE", message)
	for k, v := range vars {
		field(k, v)
	}
	return b.Bytes()
}
