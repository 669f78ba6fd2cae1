package systemd

import (
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// listenNotify binds a unixgram socket in a temporary directory, points
// NOTIFY_SOCKET at it and returns it, as systemd does for a Type=notify unit.
func listenNotify(t *testing.T) *net.UnixConn {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	return conn
}

func readDatagram(t *testing.T, conn *net.UnixConn) string {
	t.Helper()
	if err := conn.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("reading notify socket: %v", err)
	}
	return string(buf[:n])
}

func TestNotifierSends(t *testing.T) {
	fixedClock := func() (time.Duration, error) { return 1234567890 * time.Microsecond, nil }
	tests := []struct {
		name string
		send func(*Notifier) error
		want string
	}{
		{"ready", (*Notifier).Ready, "READY=1"},
		{"status", func(n *Notifier) error { return n.Status("dry-run, worst 12% to 10.0.0.1:443") }, "STATUS=dry-run, worst 12% to 10.0.0.1:443"},
		{"status folds newlines", func(n *Notifier) error { return n.Status("a\nREADY=1\r\nb") }, "STATUS=a READY=1 b"},
		{"status empty", func(n *Notifier) error { return n.Status("") }, "STATUS="},
		{"watchdog", (*Notifier).Watchdog, "WATCHDOG=1"},
		{"reloading", (*Notifier).Reloading, "RELOADING=1\nMONOTONIC_USEC=1234567890"},
		{"stopping", (*Notifier).Stopping, "STOPPING=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := listenNotify(t)
			n := NewNotifier()
			n.monotonic = fixedClock
			if !n.Enabled() {
				t.Fatal("Enabled() = false with NOTIFY_SOCKET set")
			}
			if err := tt.send(n); err != nil {
				t.Fatalf("send: %v", err)
			}
			if got := readDatagram(t, conn); got != tt.want {
				t.Errorf("datagram = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNotifierReloadingRealClock(t *testing.T) {
	conn := listenNotify(t)
	if err := NewNotifier().Reloading(); err != nil {
		t.Fatal(err)
	}
	got := readDatagram(t, conn)
	m := regexp.MustCompile(`^RELOADING=1\nMONOTONIC_USEC=([0-9]+)$`).FindStringSubmatch(got)
	if m == nil {
		t.Fatalf("datagram = %q", got)
	}
	if usec, _ := strconv.ParseInt(m[1], 10, 64); usec <= 0 {
		t.Errorf("MONOTONIC_USEC = %s, want > 0", m[1])
	}
}

func TestNotifierOutsideSystemd(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	n := NewNotifier()
	if n.Enabled() {
		t.Error("Enabled() = true without NOTIFY_SOCKET")
	}
	for name, send := range map[string]func() error{
		"Ready":     n.Ready,
		"Status":    func() error { return n.Status("x") },
		"Watchdog":  n.Watchdog,
		"Reloading": n.Reloading,
		"Stopping":  n.Stopping,
	} {
		if err := send(); err != nil {
			t.Errorf("%s outside systemd: %v, want nil", name, err)
		}
	}
}

func TestNotifierSocketGone(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "missing.sock"))
	if err := NewNotifier().Ready(); err == nil {
		t.Error("Ready to a missing socket: nil error, want one")
	}
}

func TestWatchdogInterval(t *testing.T) {
	self := strconv.Itoa(os.Getpid())
	tests := []struct {
		name      string
		usec, pid string
		want      time.Duration
	}{
		{"off", "", "", 0},
		{"30s, no pid", "30000000", "", 15 * time.Second},
		{"30s, our pid", "30000000", self, 15 * time.Second},
		{"another process's", "30000000", "1", 0},
		{"garbage", "soon", "", 0},
		{"zero", "0", "", 0},
		{"negative", "-5", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("WATCHDOG_USEC", tt.usec)
			t.Setenv("WATCHDOG_PID", tt.pid)
			if got := WatchdogInterval(); got != tt.want {
				t.Errorf("WatchdogInterval() = %v, want %v", got, tt.want)
			}
		})
	}
}
