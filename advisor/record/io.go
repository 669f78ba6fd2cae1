package record

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/tcp-advisor/tcp-advisor/internal/atomicfile"
)

// MaxSize bounds a recording once decompressed, so that a hostile file
// cannot exhaust memory: the agent's flight recorder keeps far less.
const MaxSize = 256 << 20

// Write writes the recording, gzip-compressed.
func Write(w io.Writer, r *Recording) error {
	zw := gzip.NewWriter(w)
	enc := json.NewEncoder(zw)
	if err := enc.Encode(r); err != nil {
		return err
	}
	return zw.Close()
}

// WriteFile writes the recording to path, atomically (internal/atomicfile):
// a reader never sees half a recording.
func WriteFile(path string, r *Recording) error {
	return atomicfile.Write(path, 0o644, func(w io.Writer) error { return Write(w, r) })
}

// Read reads a recording, gzip-compressed or plain JSON, and checks its
// format and version.
func Read(r io.Reader) (*Recording, error) {
	data, err := Decompress(r)
	if err != nil {
		return nil, err
	}
	var rec Recording
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&rec); err != nil {
		return nil, fmt.Errorf("not a tcp-advisor recording: %w", err)
	}
	if err := rec.Check(); err != nil {
		return nil, err
	}
	return &rec, nil
}

// Decompress returns a recording's JSON, gunzipped when it is compressed,
// up to MaxSize bytes.
func Decompress(r io.Reader) ([]byte, error) {
	br := bufio.NewReader(r)
	var src io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		src = zr
	}
	data, err := io.ReadAll(io.LimitReader(src, MaxSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxSize {
		return nil, errors.New("the recording is larger than 256 MiB once decompressed")
	}
	return data, nil
}

// ReadFile reads the recording at path.
func ReadFile(path string) (*Recording, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rec, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rec, nil
}
