package record

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tcp-advisor/tcp-advisor/advisor"
)

// Flight is the agent's flight recorder for one network namespace: the
// latest frames, kept in the state directory as two segments of JSON lines
// (frames.jsonl and, before it, frames.jsonl.1) so that the disk it takes
// is bounded by MaxBytes however long the agent runs, and written out as a
// recording when something worth attaching to an incident happens.
type Flight struct {
	// Dir is where the segments and recordings go, below the state
	// directory.
	Dir string
	// Keep is how far back a recording reaches; MaxBytes bounds the
	// segments together.
	Keep     time.Duration
	MaxBytes int64
	// Series is the header of the recordings: namespace and window.
	Series Series
	// Recordings is how many recordings are kept in Dir/recordings, the
	// oldest removed first.
	Recordings int
	// started is when the current segment took its first frame (zero:
	// unknown, as after a restart).
	started time.Time
}

// Flight recorder defaults: ten minutes, in at most 8 MiB, and the last
// twenty recordings.
const (
	DefaultKeep       = 10 * time.Minute
	DefaultMaxBytes   = 8 << 20
	DefaultRecordings = 20
)

const (
	segment     = "frames.jsonl"
	olderSuffix = ".1"
)

// Add appends a frame. When the current segment would pass half of
// MaxBytes, or holds frames older than Keep (so that the older segment
// holds nothing a recording would take), it becomes the older one,
// replacing it: the segments hold at most about MaxBytes, and a quiet
// namespace's no more than two Keeps of frames.
func (f *Flight) Add(fr Frame) error {
	line, err := json.Marshal(fr)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(f.Dir, 0o700); err != nil {
		return err
	}
	cur := filepath.Join(f.Dir, segment)
	at := fr.Snapshot.Time
	if f.started.IsZero() {
		f.started = at
	}
	fi, err := os.Stat(cur)
	if err == nil && (fi.Size()+int64(len(line)) > f.MaxBytes/2 || at.Sub(f.started) > f.Keep) {
		if err := os.Rename(cur, cur+olderSuffix); err != nil {
			return err
		}
		f.started = at
	}
	w, err := os.OpenFile(cur, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	_, err = w.Write(append(line, '\n'))
	return errors.Join(err, w.Close())
}

// Frames returns the frames kept that are no older than Keep before now,
// oldest first. A line that does not decode (one cut short by a crash) is
// skipped.
func (f *Flight) Frames(now time.Time) ([]Frame, error) {
	var out []Frame
	for _, name := range []string{segment + olderSuffix, segment} {
		data, err := os.ReadFile(filepath.Join(f.Dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(nil, int(max(f.MaxBytes, 1<<20)))
		for sc.Scan() {
			var fr Frame
			if json.Unmarshal(sc.Bytes(), &fr) != nil {
				continue
			}
			if now.Sub(fr.Snapshot.Time) <= f.Keep {
				out = append(out, fr)
			}
		}
	}
	// A clock stepped back could interleave the segments.
	slices.SortStableFunc(out, func(a, b Frame) int { return a.Snapshot.Time.Compare(b.Snapshot.Time) })
	return out, nil
}

// Dump writes the frames kept as a recording in Dir/recordings, named
// after now and the reason's first word, and returns its path.
func (f *Flight) Dump(reason, host string, now time.Time) (string, error) {
	frames, err := f.Frames(now)
	if err != nil {
		return "", err
	}
	if len(frames) == 0 {
		return "", errors.New("the flight recorder holds no frame")
	}
	rec := New("agent", now)
	rec.Reason, rec.Host = reason, host
	s := f.Series
	s.Frames = frames
	rec.Series = append(rec.Series, s)
	dir := filepath.Join(f.Dir, "recordings")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	word, _, _ := strings.Cut(reason, " ")
	path := filepath.Join(dir, fmt.Sprintf("%s-%s.json.gz", now.UTC().Format("20060102T150405.000Z"), safeWord(word)))
	if err := WriteFile(path, rec); err != nil {
		return "", err
	}
	return path, f.prune(dir)
}

// prune removes the oldest recordings beyond Recordings.
func (f *Flight) prune(dir string) error {
	entries, err := os.ReadDir(dir) // sorted by name, which starts with the time
	if err != nil {
		return err
	}
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".json.gz") && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	var errs []error
	for _, n := range names[:max(0, len(names)-max(f.Recordings, 1))] {
		errs = append(errs, os.Remove(filepath.Join(dir, n)))
	}
	return errors.Join(errs...)
}

// safeWord keeps the letters, digits and dashes of w.
func safeWord(w string) string {
	w = strings.Map(func(r rune) rune {
		if r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, w)
	if w == "" {
		return "recording"
	}
	return w
}

// NewFlight returns the flight recorder of a namespace whose state lives in
// stateDir, with the agent's window.
func NewFlight(stateDir string, keep time.Duration, maxBytes int64, ns advisor.Netns, host bool) *Flight {
	return &Flight{
		Dir: filepath.Join(stateDir, "flight-recorder"), Keep: keep, MaxBytes: maxBytes,
		Series: Series{Netns: ns, Host: host, Window: AgentWindow}, Recordings: DefaultRecordings,
	}
}
