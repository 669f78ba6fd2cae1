package remediate

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tcp-advisor/tcp-advisor/advisor"
)

// sampleState is a state with three managed keys and some history, as the
// agent writes it.
func sampleState() *State {
	return &State{
		Managed: map[string]*ManagedKey{
			advisor.KeyPortRange:     {Original: "40000 40999", LastWritten: "40000 42999", LastChange: t0, Direction: 1},
			advisor.KeyReservedPorts: {Original: "", LastWritten: "41500", LastChange: t0, Direction: 1},
			"net.ipv4.tcp_tw_reuse":  {Original: "0", LastWritten: "1", LastChange: t0, Direction: 1},
		},
		History: []Record{
			{Time: t0, Action: ActionApply, Key: advisor.KeyReservedPorts, From: "", To: "41500", Rule: "widen"},
			{Time: t0, Action: ActionApply, Key: advisor.KeyPortRange, From: "40000 40999", To: "40000 42999", Rule: "widen"},
		},
		PersistPath: "/etc/sysctl.d/90-tcp-advisor.conf",
	}
}

func TestStateFileHasVersion(t *testing.T) {
	s := NewStore(t.TempDir())
	if err := s.Save(sampleState()); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(s.Path())
	var v struct{ Version int }
	if err := json.Unmarshal(b, &v); err != nil || v.Version != StateVersion {
		t.Errorf("version = %d (%v), want %d:\n%s", v.Version, err, StateVersion, b)
	}
}

func TestParseStateVersions(t *testing.T) {
	tests := []struct {
		name        string
		in          string
		wantVersion int
		wantErr     string
	}{
		{"no version is 1", `{"managed":{"k":{"original":"1","last_written":"2"}},"history":[]}`, 1, ""},
		{"version 1", `{"version":1,"managed":{}}`, 1, ""},
		{"newer version", `{"version":2,"managed":{}}`, 0, "version 2"},
		{"negative version", `{"version":-1,"managed":{}}`, 0, "version -1"},
		{"newer and torn", `{"version":7,"managed":{"k":{"orig`, 0, "version 7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := ParseState("state.json", []byte(tt.in))
			if tt.wantErr != "" {
				var ve *VersionError
				if !errors.As(err, &ve) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want a VersionError about %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || st.Version != tt.wantVersion {
				t.Fatalf("version %v, err %v", st, err)
			}
		})
	}
}

// TestParseStateTruncatedSalvagesOriginals truncates a real state file at
// every length: nothing panics, a torn file is a CorruptError, every key it
// salvages has its exact original, and a key whose record was whole before
// the cut is salvaged.
func TestParseStateTruncatedSalvagesOriginals(t *testing.T) {
	want := sampleState()
	b, err := json.MarshalIndent(want, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	full := string(b)
	for n := 0; n < len(b); n++ {
		st, err := ParseState("state.json", b[:n])
		if err == nil {
			// Only whitespace was cut: the whole state.
			if strings.TrimSpace(full[n:]) != "" {
				t.Fatalf("cut at %d parsed without error", n)
			}
			continue
		}
		var ce *CorruptError
		if !errors.As(err, &ce) || st != nil {
			t.Fatalf("cut at %d: %T %v", n, err, err)
		}
		for k, m := range ce.Salvaged.Managed {
			if want.Managed[k] == nil || m.Original != want.Managed[k].Original {
				t.Fatalf("cut at %d: salvaged %s original %q, want %q", n, k, m.Original, want.Managed[k].Original)
			}
		}
		for k := range want.Managed {
			// The record ends at the "}" after its key's last field.
			i := strings.Index(full, `"`+k+`": {`)
			end := i + strings.Index(full[i:], "}") + 1
			if n >= end && ce.Salvaged.Managed[k] == nil {
				t.Fatalf("cut at %d: %s was whole (ends at %d) but not salvaged", n, k, end)
			}
		}
	}
}

func TestParseStateCorruptCases(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		salvaged []string
	}{
		{"empty file", "", nil},
		{"not json", "\x00\x00\x00garbage", nil},
		{"null record", `{"managed":{"a":{"original":"1"},"b":null}}`, []string{"a"}},
		{"record without original", `{"managed":{"a":{"last_written":"1"},"b":{"original":""}}}`, []string{"b"}},
		{"garbage after a record", `{"managed":{"a":{"original":"1"}},"history":[{"time":"x`, []string{"a"}},
		{"bad byte mid-file", `{"managed":{"a":{"original":"1"},"b":{"original":"2"}` + "\xff" + `,"c":{"original":"3"}}}`, []string{"a", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseState("state.json", []byte(tt.in))
			var ce *CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want CorruptError", err)
			}
			got := ce.Salvaged.Keys()
			if strings.Join(got, ",") != strings.Join(tt.salvaged, ",") {
				t.Errorf("salvaged %v, want %v", got, tt.salvaged)
			}
			if !strings.Contains(err.Error(), "corrupt") {
				t.Errorf("message %q does not say corrupt", err)
			}
		})
	}
}

// TestStoreNeverOverwritesUnreadable: after a Load that found the file
// corrupt or from a newer version, Save refuses; MoveAside keeps the
// corrupt bytes under a timestamped name, after which Save works.
func TestStoreNeverOverwritesUnreadable(t *testing.T) {
	for _, content := range []string{`{"managed":{"k":{"original":"1"}`, `{"version":99,"managed":{}}`} {
		dir := t.TempDir()
		s := NewStore(dir)
		os.WriteFile(s.Path(), []byte(content), 0o640)
		st, err := s.Load()
		if err == nil {
			t.Fatalf("%q loaded", content)
		}
		if st == nil {
			st = &State{Managed: map[string]*ManagedKey{}}
		}
		var se *StoreError
		if err := s.Save(st); !errors.As(err, &se) || s.Blocked() == nil {
			t.Fatalf("save over an unreadable file: %v", err)
		}
		if b, _ := os.ReadFile(s.Path()); string(b) != content {
			t.Fatalf("unreadable file changed to %q", b)
		}
		var ve *VersionError
		if errors.As(err, &ve) {
			continue
		}
		aside, err := s.MoveAside(AsideCorrupt, t0)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(filepath.Base(aside), StateFile+".corrupt-2026") {
			t.Errorf("moved aside to %s", aside)
		}
		if b, _ := os.ReadFile(aside); string(b) != content {
			t.Errorf("moved file holds %q", b)
		}
		if err := s.Save(st); err != nil {
			t.Errorf("save after move aside: %v", err)
		}
	}
}

func TestStoreModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	s := NewStore(dir)
	if err := s.Save(sampleState()); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{dir: 0o750, s.Path(): 0o640} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		// Other users may neither read nor write.
		if got := fi.Mode().Perm(); got != want || got&0o007 != 0 {
			t.Errorf("%s mode %o, want %o", path, got, want)
		}
	}
}

// FuzzParseState: any bytes give a usable state or an error that explains;
// never a panic, never a nil managed record, and what parses saves again.
func FuzzParseState(f *testing.F) {
	b, _ := json.MarshalIndent(sampleState(), "", "  ")
	f.Add(b)
	f.Add(b[:len(b)/2])
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte(`{"managed":{"k":null}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := ParseState("state.json", data)
		var ce *CorruptError
		var ve *VersionError
		switch {
		case err == nil:
		case errors.As(err, &ce):
			st = ce.Salvaged
			_ = err.Error()
		case errors.As(err, &ve):
			return
		default:
			t.Fatalf("error of type %T: %v", err, err)
		}
		if st == nil || st.Managed == nil {
			t.Fatal("nil state")
		}
		for k, m := range st.Managed {
			if m == nil {
				t.Fatalf("nil record for %q", k)
			}
		}
		if err := NewStore(t.TempDir()).Save(st); err != nil {
			t.Fatalf("save: %v", err)
		}
	})
}
