package main

import (
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tcp-advisor/tcp-advisor/cmd/internal/report"
)

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// textOptions are the text output options for w: colour and wrapping only on
// a terminal, and no colour when NO_COLOR is set (no-color.org).
func textOptions(w io.Writer) report.TextOptions {
	f, ok := w.(*os.File)
	if !ok || !isTerminal(f) {
		return report.TextOptions{}
	}
	o := report.TextOptions{Color: os.Getenv("NO_COLOR") == ""}
	if ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ); err == nil && ws.Col > 20 {
		o.Width = int(ws.Col)
	}
	return o
}

// progress returns a function that shows sampling progress on stderr when
// it is a terminal and sampling lasts more than a second; nil otherwise.
func progress(stderr io.Writer, samples int, interval time.Duration) func(done, total int) {
	if samples < 2 || time.Duration(samples-1)*interval <= time.Second || !isTerminal(stderr) {
		return nil
	}
	return report.Progress(stderr, interval)
}
