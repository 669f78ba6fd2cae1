package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	for _, tc := range []struct {
		data string
		perm os.FileMode
	}{{"first", 0o640}, {"second, longer", 0o644}} {
		if err := WriteFile(path, []byte(tc.data), tc.perm); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != tc.data {
			t.Errorf("content %q, %v; want %q", got, err, tc.data)
		}
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != tc.perm {
			t.Errorf("mode %v, %v; want %v", fi.Mode().Perm(), err, tc.perm)
		}
	}
	assertOnly(t, filepath.Dir(path), "f")
}

// TestCrashBeforeRename: a write stopped after the temporary file is
// written and synced but before the rename leaves the old file whole, and
// no temporary file behind.
func TestCrashBeforeRename(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	var tmpSeen []byte
	rename = func(from, _ string) error {
		tmpSeen, _ = os.ReadFile(from) // what the crash leaves on disk
		return errors.New("crash before rename")
	}
	t.Cleanup(func() { rename = os.Rename })
	if err := WriteFile(path, []byte("new"), 0o600); err == nil {
		t.Fatal("write succeeded without its rename")
	}
	if string(tmpSeen) != "new" {
		t.Errorf("temporary file before the rename held %q, want the new content", tmpSeen)
	}
	if got, _ := os.ReadFile(path); string(got) != "old" {
		t.Errorf("file changed without a rename: %q", got)
	}
	assertOnly(t, filepath.Dir(path), "f")
}

// TestWriteError: an error from the content's writer leaves the file as
// it was.
func TestWriteError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := Write(path, 0o600, func(w io.Writer) error {
		_, _ = io.WriteString(w, "partial")
		return boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("err %v, want %v", err, boom)
	}
	if got, _ := os.ReadFile(path); string(got) != "old" {
		t.Errorf("file %q after a failed write", got)
	}
	assertOnly(t, filepath.Dir(path), "f")
}

func TestMissingDirectory(t *testing.T) {
	if err := WriteFile(filepath.Join(t.TempDir(), "no", "f"), nil, 0o600); err == nil {
		t.Error("write into a missing directory succeeded")
	}
}

// assertOnly checks dir holds exactly name: no temporary file is left.
func assertOnly(t *testing.T, dir, name string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name() != name {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("%s holds %v, want only %s", dir, names, name)
	}
}
