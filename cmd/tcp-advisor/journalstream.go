package main

import (
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// errPrefix is "<3>" when w is the stream systemd connected to the journal
// (JOURNAL_STREAM names its device and inode), so that journald records an
// error line at priority err rather than info; elsewhere it is empty.
func errPrefix(w io.Writer) string {
	f, ok := w.(*os.File)
	if !ok {
		return ""
	}
	dev, ino, ok := strings.Cut(os.Getenv("JOURNAL_STREAM"), ":")
	if !ok {
		return ""
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return ""
	}
	if strconv.FormatUint(uint64(st.Dev), 10) == dev && strconv.FormatUint(uint64(st.Ino), 10) == ino {
		return "<3>"
	}
	return ""
}
