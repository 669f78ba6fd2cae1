package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestGate(t *testing.T) {
	tests := []struct {
		name, accepted string
		wantErr        string // "" for success
		wantOut        []string
	}{
		{"nothing accepted", "", "2 called vulnerabilities not accepted", nil},
		{"both accepted", "GO-2026-0001 no HTTP/2\nGO-2026-0002 not reachable\n", "", []string{
			"accepted: GO-2026-0001 in stdlib@v1.26.8 (fixed in v1.26.9), called through net/http.body.Read: no HTTP/2",
			"2 called vulnerabilities, all accepted",
		}},
		{"imported only is not called", "GO-2026-0001 a\nGO-2026-0002 b\nGO-2026-0003 c\n", "", []string{"no longer found: GO-2026-0003"}},
		{"one left", "# comment\n\nGO-2026-0001 a\n", "1 called vulnerabilities not accepted:\n  GO-2026-0002 in github.com/x/y@v0.2.0 (fixed in v0.3.0), called through github.com/x/y.Parse", nil},
		{"no reason", "GO-2026-0001\n", "has no reason", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stream, err := os.Open("testdata/stream.json")
			if err != nil {
				t.Fatal(err)
			}
			defer stream.Close()
			path := ""
			if tt.accepted != "" {
				path = filepath.Join(t.TempDir(), "accepted")
				if err := os.WriteFile(path, []byte(tt.accepted), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var out strings.Builder
			err = gate(stream, path, &out)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("gate: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("gate: %v, want an error containing %q", err, tt.wantErr)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

func TestGateEmptyStream(t *testing.T) {
	if err := gate(strings.NewReader(""), "", &strings.Builder{}); err == nil || !strings.Contains(err.Error(), "wrote nothing") {
		t.Errorf("empty stream: %v, want an error", err)
	}
}

// TestGateNoLongerFoundSorted runs the gate several times: the accepted IDs
// that no longer turn up come out in ID order every time.
func TestGateNoLongerFoundSorted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "accepted")
	accepted := "GO-2026-0001 a\nGO-2026-0002 b\nGO-2025-0030 c\nGO-2025-0010 d\nGO-2025-0050 e\nGO-2025-0020 f\nGO-2025-0040 g\n"
	if err := os.WriteFile(path, []byte(accepted), 0o644); err != nil {
		t.Fatal(err)
	}
	want := []string{"GO-2025-0010", "GO-2025-0020", "GO-2025-0030", "GO-2025-0040", "GO-2025-0050"}
	for range 20 {
		stream, err := os.Open("testdata/stream.json")
		if err != nil {
			t.Fatal(err)
		}
		var out strings.Builder
		err = gate(stream, path, &out)
		stream.Close()
		if err != nil {
			t.Fatalf("gate: %v", err)
		}
		var got []string
		for line := range strings.Lines(out.String()) {
			if id, ok := strings.CutPrefix(line, "no longer found: "); ok {
				got = append(got, strings.Fields(id)[0])
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("no longer found: %v, want %v", got, want)
		}
	}
}
