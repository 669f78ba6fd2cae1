// Package record writes and reads recordings: the observation series the
// analysis consumes — sysctls, counters and the aggregated socket dumps with
// their per-destination ages and owners — so that the same analysis and
// policies can be run on them later, on any machine, without privileges
// (replay), and policies can be tested against real incidents.
//
// A recording is JSON, gzip-compressed, with a format name and version; its
// JSON Schema is recording.schema.json beside this file. Snapshot fields
// flow through as the advisor package marshals them, so a field added there
// is recorded without a format change; the fields the snapshot keeps out
// of its own JSON (maps keyed by destination, state histograms) are written
// here explicitly.
package record

import (
	"fmt"
	"slices"
	"time"

	"github.com/tcp-advisor/tcp-advisor/advisor"
)

// FormatName is the value of a recording's "format" field.
const FormatName = "tcp-advisor-recording"

// Version is the format version this package writes. It reads every
// version up to it and refuses newer ones.
const Version = 1

// Recording is one recording: one series of frames per network namespace.
type Recording struct {
	Format  string    `json:"format"`
	Version int       `json:"version"`
	Created time.Time `json:"created"`
	// Source is what made it: "record", "plan", "diagnose" or "agent".
	Source string `json:"source"`
	// Reason is why the agent's flight recorder wrote it, if it did.
	Reason string `json:"reason,omitempty"`
	Host   string `json:"host,omitempty"`
	// Redacted is set when addresses and names were replaced.
	Redacted bool     `json:"redacted,omitempty"`
	Series   []Series `json:"series"`
}

// Series is the frames of one network namespace, oldest first, and how the
// judgement windowed them.
type Series struct {
	Netns advisor.Netns `json:"netns"`
	// Host is set for the initial network namespace.
	Host   bool    `json:"host,omitempty"`
	Window Window  `json:"window"`
	Frames []Frame `json:"frames"`
}

// Window is the size of the history a judgement reads (advisor.History).
type Window struct {
	Recent  int `json:"recent"`
	Details int `json:"details"`
}

// AgentWindow is the agent's window.
var AgentWindow = Window{Recent: advisor.AgentRecent, Details: advisor.AgentDetails}

// Frame is one snapshot and whether it was taken at the detail cadence.
type Frame struct {
	Detail   bool             `json:"detail"`
	Snapshot advisor.Snapshot `json:"-"`
}

// New returns an empty recording made by source.
func New(source string, created time.Time) *Recording {
	return &Recording{Format: FormatName, Version: Version, Created: created.UTC(), Source: source, Series: []Series{}}
}

// Check reports a recording that is not one this package can read.
func (r *Recording) Check() error {
	if r.Format != FormatName {
		return fmt.Errorf("not a tcp-advisor recording (format %q)", r.Format)
	}
	if r.Version < 1 || r.Version > Version {
		return fmt.Errorf("recording format version %d: this tcp-advisor reads versions 1 to %d (a newer tcp-advisor wrote it?)", r.Version, Version)
	}
	for i, s := range r.Series {
		if s.Window.Recent < 1 || s.Window.Details < 1 {
			return fmt.Errorf("series %d (%s): window %+v: want recent and details of at least 1", i, s.Netns, s.Window)
		}
		if !slices.IsSortedFunc(s.Frames, func(a, b Frame) int { return a.Snapshot.Time.Compare(b.Snapshot.Time) }) {
			return fmt.Errorf("series %d (%s): frames out of time order", i, s.Netns)
		}
	}
	return nil
}

// Start is the time of the series' first frame.
func (s Series) Start() time.Time {
	if len(s.Frames) == 0 {
		return time.Time{}
	}
	return s.Frames[0].Snapshot.Time
}

// Duration is the time from the first frame to the last.
func (s Series) Duration() time.Duration {
	if len(s.Frames) == 0 {
		return 0
	}
	return s.Frames[len(s.Frames)-1].Snapshot.Time.Sub(s.Start())
}

// At returns the index of the frame at offset from the start: the last one
// taken at or before it. A negative offset means the last frame.
func (s Series) At(offset time.Duration) (int, error) {
	if len(s.Frames) == 0 {
		return 0, fmt.Errorf("namespace %s: the recording holds no frame", s.Netns)
	}
	if offset < 0 {
		return len(s.Frames) - 1, nil
	}
	at := s.Start().Add(offset)
	i, _ := slices.BinarySearchFunc(s.Frames, at, func(f Frame, t time.Time) int {
		if f.Snapshot.Time.After(t) {
			return 1
		}
		return -1
	})
	if i == 0 {
		return 0, fmt.Errorf("namespace %s: no frame at %s", s.Netns, offset)
	}
	if offset > s.Duration() {
		return 0, fmt.Errorf("namespace %s: --at %s is past the recording's end (%s)", s.Netns, offset, s.Duration().Round(time.Millisecond))
	}
	return i - 1, nil
}

// History returns the window a judgement at frame i reads: the frames up to
// it, kept as the recorder kept them.
func (s Series) History(i int) *advisor.History {
	h := &advisor.History{Recent: s.Window.Recent, Details: s.Window.Details}
	for _, f := range s.Frames[:i+1] {
		h.Add(f.Snapshot, f.Detail)
	}
	return h
}

// Replay returns the snapshot at offset and the findings the analysis
// draws at that moment; a negative offset is the last frame.
func (s Series) Replay(offset time.Duration) (advisor.Snapshot, advisor.Findings, error) {
	i, err := s.At(offset)
	if err != nil {
		return advisor.Snapshot{}, advisor.Findings{}, err
	}
	return s.Frames[i].Snapshot, s.History(i).Analyze(), nil
}
