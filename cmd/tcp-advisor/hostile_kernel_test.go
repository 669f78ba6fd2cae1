package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tcp-advisor/tcp-advisor/internal/netnstest"
)

// hostileComm is a command name another user could choose: a newline, an
// ANSI "clear screen" and a byte that is not UTF-8 (15 bytes at most fit).
const hostileComm = "ev\n\x1b[2Jx\xff"

// TestKernelHostileCommandName: a process whose command name holds a
// newline, an escape sequence and invalid UTF-8 holds CLOSE_WAIT sockets.
// Text output prints the name escaped, JSON keeps it as valid UTF-8, and
// the agent's log lines stay one line each without raw control bytes.
func TestKernelHostileCommandName(t *testing.T) {
	advisorBin, loadBin := binaries(t)
	ns := netnstest.New(t)
	// The kernel names a process after the file it executes.
	link := filepath.Join(t.TempDir(), hostileComm)
	if err := os.Symlink(loadBin, link); err != nil {
		t.Fatal(err)
	}
	ns.Start(t, "ready", link, "closewait", "-addr", "127.0.0.1:9100", "-n", "200")
	ns.Start(t, "ready", loadBin, "closewait", "-addr", "127.0.0.1:9200", "-n", "20")

	text := ns.MustRun(t, advisorBin, "diagnose")
	if !strings.Contains(text, `ev\n\x1b[2Jx\xff`) {
		t.Errorf("text output lacks the escaped name:\n%s", text)
	}
	if rawBytes(text) || strings.Contains(text, "ev\n") {
		t.Errorf("text output holds raw control bytes: %q", text)
	}

	out := ns.MustRun(t, advisorBin, "diagnose", "--format", "json")
	if !utf8.ValidString(out) {
		t.Fatalf("JSON is not UTF-8: %q", out)
	}
	var d diagnoseJSON
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, o := range d.CloseWait.ByOwner {
		if o.Command == "ev\n\x1b[2Jx\ufffd" && o.Count == 200 {
			found = true
		}
	}
	if !found {
		t.Errorf("by_owner = %+v, want the hostile name (invalid byte as U+FFFD) with 200", d.CloseWait.ByOwner)
	}

	// The agent names the leak in its log: three CLOSE_WAIT dumps a
	// second apart make the sockets stuck.
	agent := startAgent(t, ns, advisorBin, "--interval", "1s", "--detail-interval", "1s", "--state-dir", t.TempDir())
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(agent.log.String(), "close_wait_leak") && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	agent.stop(t, syscall.SIGTERM)
	log := agent.log.String()
	var leak string
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "close_wait_leak") {
			leak = line
		}
	}
	if !strings.Contains(leak, `ev\n\x1b[2Jx\xff`) {
		t.Errorf("no leak line with the escaped name:\n%s", log)
	}
	if rawBytes(log) {
		t.Errorf("agent log holds raw control bytes: %q", log)
	}
}

// rawBytes reports whether s holds a raw ESC or the raw 0xff byte.
func rawBytes(s string) bool {
	return strings.IndexByte(s, 0x1b) >= 0 || strings.IndexByte(s, 0xff) >= 0
}
