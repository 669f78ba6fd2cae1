package remediate

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/internal/atomicfile"
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

// TestStoreCrashBeforeRename: a save stopped before its atomic write
// replaced the file (package atomicfile tests a stop just before the
// rename) leaves the old state readable and whole, and the next save works.
func TestStoreCrashBeforeRename(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	s := NewStore(dir)
	if err := s.Save(&State{Managed: map[string]*ManagedKey{"k": {Original: "old"}}}); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, StateFile))

	var tmpSeen []byte
	writeFile = func(_ string, data []byte, _ os.FileMode) error {
		tmpSeen = data // what the crash leaves in the temporary file
		return errors.New("crash before rename")
	}
	t.Cleanup(func() { writeFile = atomicfile.WriteFile })
	err := s.Save(&State{Managed: map[string]*ManagedKey{"k": {Original: "new"}}})
	if err == nil {
		t.Fatal("save succeeded without its rename")
	}
	if !bytes.Contains(tmpSeen, []byte(`"original": "new"`)) {
		t.Errorf("the new state was not in the temporary file before the rename: %q", tmpSeen)
	}
	after, _ := os.ReadFile(filepath.Join(dir, StateFile))
	if !bytes.Equal(before, after) {
		t.Errorf("state file changed without a rename:\n%s", after)
	}
	got, err := s.Load()
	if err != nil || got.Managed["k"].Original != "old" {
		t.Fatalf("load after crash: %+v %v", got, err)
	}

	writeFile = atomicfile.WriteFile
	if err := s.Save(&State{Managed: map[string]*ManagedKey{"k": {Original: "new"}}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Load(); got.Managed["k"].Original != "new" {
		t.Errorf("after save: %+v", got.Managed["k"])
	}
}

// TestStoreIgnoresAndSweepsTornTemp: a torn temporary file from a crash
// does not disturb Load, and the next Save removes it.
func TestStoreIgnoresAndSweepsTornTemp(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	s := NewStore(dir)
	if err := s.Save(&State{Managed: map[string]*ManagedKey{"k": {Original: "old"}}}); err != nil {
		t.Fatal(err)
	}
	torn := filepath.Join(dir, "."+StateFile+".tmp-123")
	if err := os.WriteFile(torn, []byte(`{"managed": {"k": {"orig`), 0o640); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Load(); err != nil || got.Managed["k"].Original != "old" {
		t.Fatalf("load beside a torn temp file: %+v %v", got, err)
	}
	if err := s.Save(&State{Managed: map[string]*ManagedKey{}}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(torn); !os.IsNotExist(err) {
		t.Errorf("torn temp file not swept: %v", err)
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

func TestStateNamespace(t *testing.T) {
	here := advisor.Netns{Inode: 4026531840, Name: ""}
	other := advisor.Netns{Inode: 4026532999, Name: "lb-blue"}
	st := &State{Managed: map[string]*ManagedKey{}}
	if err := st.CheckNamespace("/var/lib/tcp-advisor", here, nil); err != nil || st.Namespace == nil || *st.Namespace != here {
		t.Fatalf("a new state adopts this namespace: %v %v", err, st.Namespace)
	}
	st.Namespace = &other
	err := st.CheckNamespace("/var/lib/tcp-advisor", here, nil)
	var nerr *NamespaceError
	if !errors.As(err, &nerr) || !strings.Contains(err.Error(), "lb-blue (net:[4026532999])") || !strings.Contains(err.Error(), "net:[4026531840]") {
		t.Errorf("a state from another namespace: %v", err)
	}
	// The namespace survives a save and load.
	store := NewStore(t.TempDir())
	if err := store.Save(st); err != nil {
		t.Fatal(err)
	}
	back, err := store.Load()
	if err != nil || back.Namespace == nil || *back.Namespace != other {
		t.Errorf("loaded %v, %v", back.Namespace, err)
	}
}
