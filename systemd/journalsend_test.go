package systemd

import (
	"bytes"
	"encoding/binary"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// parseNative splits a native-protocol datagram into fields.
func parseNative(t *testing.T, b []byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	for len(b) > 0 {
		nl := bytes.IndexByte(b, '\n')
		if nl < 0 {
			t.Fatalf("unterminated field %q", b)
		}
		line := string(b[:nl])
		if name, value, ok := strings.Cut(line, "="); ok {
			out[name] = value
			b = b[nl+1:]
			continue
		}
		n := binary.LittleEndian.Uint64(b[nl+1 : nl+9])
		out[line] = string(b[nl+9 : nl+9+int(n)])
		b = b[nl+9+int(n)+1:]
	}
	return out
}

// TestJournalSenderNativeProtocol: entries reach a journald-like socket in
// the native protocol (binary-safe for values with newlines), from a
// socket that has no address of its own, so nobody can send to the agent.
func TestJournalSenderNativeProtocol(t *testing.T) {
	path := filepath.Join(t.TempDir(), "socket")
	srv, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	j := dialJournal(path)
	if j == nil {
		t.Fatal("no sender for a live socket")
	}
	if path := unixSocketPath(t, j.conn); path != "" {
		t.Errorf("sender bound to %q: others could send to it", path)
	}
	l := newLogger(j.send, nil)
	name := "ev\n\x1b[2Jx\xff"
	if err := l.Log(Event{Kind: EventCloseWaitLeak, Message: "leak: " + name, Fields: map[string]string{FieldCommand: name, FieldPID: "42"}}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65536)
	n, err := srv.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	f := parseNative(t, buf[:n])
	want := map[string]string{
		"MESSAGE": `leak: ev\n\x1b[2Jx\xff`, "COMMAND": name, "PID": "42", "OBJECT_PID": "42",
		"PRIORITY": "4", "SYSLOG_IDENTIFIER": Identifier, "MESSAGE_ID": EventCloseWaitLeak.MessageID(),
	}
	for k, v := range want {
		if f[k] != v {
			t.Errorf("%s = %q, want %q", k, f[k], v)
		}
	}
	if dialJournal(filepath.Join(t.TempDir(), "none")) != nil {
		t.Error("a sender for a missing socket")
	}
}

// unixSocketPath returns the address a unix socket is bound to, as
// /proc/net/unix lists it ("" for none; "@..." for an abstract one).
func unixSocketPath(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	raw.Control(func(fd uintptr) { err = syscall.Fstat(int(fd), &st) })
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("/proc/net/unix")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) >= 7 && f[6] == strconv.FormatUint(st.Ino, 10) {
			if len(f) > 7 {
				return f[7]
			}
			return ""
		}
	}
	t.Fatalf("socket inode %d not in /proc/net/unix", st.Ino)
	return ""
}
