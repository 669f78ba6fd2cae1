package remediate

import (
	"os"
	"path/filepath"
	"testing"
)

func TestStoreRoundTrip(t *testing.T) {
	s := NewStore(filepath.Join(t.TempDir(), "state"))
	st, err := s.Load()
	if err != nil || len(st.Managed) != 0 {
		t.Fatalf("empty load: %+v %v", st, err)
	}
	st.Managed["k"] = &ManagedKey{Original: "1", LastWritten: "2", LastChange: t0, Direction: 1}
	st.History = append(st.History, Record{Time: t0, Action: ActionApply, Key: "k", From: "1", To: "2"})
	if err := s.Save(st); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if m := got.Managed["k"]; m.Original != "1" || m.LastWritten != "2" || !m.LastChange.Equal(t0) || len(got.History) != 1 {
		t.Errorf("round trip: %+v %+v", m, got.History)
	}
}

// TestStoreCrashBeforeRename: a crash after the temporary file is written
// but before the rename leaves the old state readable and whole.
func TestStoreCrashBeforeRename(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	s := NewStore(dir)
	old := &State{Managed: map[string]*ManagedKey{"k": {Original: "old"}}}
	if err := s.Save(old); err != nil {
		t.Fatal(err)
	}
	// What WriteFileAtomic leaves if it dies before rename: a temp file,
	// even a torn one.
	if err := os.WriteFile(filepath.Join(dir, "."+StateFile+".tmp-123"), []byte(`{"managed": {"k": {"orig`), 0o640); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load()
	if err != nil {
		t.Fatalf("load after crash: %v", err)
	}
	if got.Managed["k"].Original != "old" {
		t.Errorf("state = %+v", got.Managed["k"])
	}
	// The next save still works and replaces the file whole.
	if err := s.Save(&State{Managed: map[string]*ManagedKey{"k": {Original: "new"}}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Load(); got.Managed["k"].Original != "new" {
		t.Errorf("after save: %+v", got.Managed["k"])
	}
}

func TestStoreTornFileIsAnError(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, StateFile), []byte("{"), 0o640)
	if _, err := NewStore(dir).Load(); err == nil {
		t.Error("a torn state file loaded without error")
	}
}

func TestHistoryIsBounded(t *testing.T) {
	s := NewStore(t.TempDir())
	st := &State{Managed: map[string]*ManagedKey{}}
	for range maxHistory + 10 {
		st.History = append(st.History, Record{Key: "k"})
	}
	if err := s.Save(st); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Load(); len(got.History) != maxHistory {
		t.Errorf("history = %d", len(got.History))
	}
}
