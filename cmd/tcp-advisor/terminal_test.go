package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/tcp-advisor/tcp-advisor/internal/testbin"
)

// openPTY opens a pseudo-terminal pair: what a person's terminal looks like
// to tcp-advisor.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		testbin.Missing(t, fmt.Sprintf("no pseudo-terminals: %v", err))
	}
	var unlock int32
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, m.Fd(), unix.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Fatal(e)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetWinsize(int(s.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 72}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); m.Close() })
	return m, s
}

// TestTextOptions: colour and wrapping on a terminal only, and no colour
// when NO_COLOR is set.
func TestTextOptions(t *testing.T) {
	_, tty := openPTY(t)
	t.Setenv("NO_COLOR", "")
	if o := textOptions(tty); !o.Color || o.Width != 72 {
		t.Errorf("terminal: %+v, want colour and width 72", o)
	}
	t.Setenv("NO_COLOR", "1")
	if o := textOptions(tty); o.Color || o.Width != 72 {
		t.Errorf("terminal with NO_COLOR: %+v, want no colour", o)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	os.Unsetenv("NO_COLOR")
	if o := textOptions(w); o.Color || o.Width != 0 {
		t.Errorf("pipe: %+v, want plain", o)
	}
	if o := textOptions(&bytes.Buffer{}); o.Color {
		t.Errorf("buffer: %+v", o)
	}
}

// TestProgress: sampling over more than a second shows progress on a
// terminal, and nowhere else.
func TestProgress(t *testing.T) {
	master, tty := openPTY(t)
	if progress(tty, 2, 500*time.Millisecond) != nil {
		t.Error("progress for half a second of sampling")
	}
	if progress(&bytes.Buffer{}, 5, time.Second) != nil {
		t.Error("progress on something that is not a terminal")
	}
	p := progress(tty, 3, time.Second)
	if p == nil {
		t.Fatal("no progress for two seconds of sampling on a terminal")
	}
	p(1, 3)
	p(3, 3)
	buf := make([]byte, 256)
	master.SetReadDeadline(time.Now().Add(time.Second))
	n, _ := master.Read(buf)
	if got := string(buf[:n]); !strings.Contains(got, "sampling 1/3, 1s apart") {
		t.Errorf("terminal shows %q", got)
	}
}
