package record

import (
	"bytes"
	"testing"
)

// FuzzRead: a recording file is untrusted input (shared for a bug report,
// attached to an incident): reading it errs or yields a recording that
// replays, never panics.
func FuzzRead(f *testing.F) {
	var b bytes.Buffer
	if err := Write(&b, recording(3)); err != nil {
		f.Fatal(err)
	}
	plain, err := Decompress(bytes.NewReader(b.Bytes()))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b.Bytes())
	f.Add(plain)
	f.Add([]byte(`{"format":"tcp-advisor-recording","version":1,"series":[{"window":{"recent":1,"details":1},"frames":[{"snapshot":{"sockets":{}}}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, err := Read(bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, s := range rec.Series {
			_, _, _ = s.Replay(-1)
		}
		rec.Redact()
	})
}
