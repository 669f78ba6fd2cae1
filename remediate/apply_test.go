package remediate

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/advisor/sysctl"
)

func newApplier(t *testing.T, root string, persist string) *Applier {
	t.Helper()
	sys, err := sysctl.New(root)
	if err != nil {
		t.Fatal(err)
	}
	clock := t0
	return &Applier{
		Sysctls: sys,
		Store:   NewStore(filepath.Join(t.TempDir(), "state")),
		Persist: Persister{Path: persist, Dir: filepath.Dir(persist)},
		Now:     func() time.Time { clock = clock.Add(time.Second); return clock },
	}
}

var liveKeys = map[string]string{
	advisor.KeyPortRange:       "40000\t40999",
	advisor.KeyReservedPorts:   "",
	"net.ipv4.tcp_tw_reuse":    "0",
	"net.ipv4.tcp_fin_timeout": "60",
}

func TestApplyRecordsOriginalsAndRollsBack(t *testing.T) {
	root := fakeSys(t, liveKeys)
	dropIn := filepath.Join(t.TempDir(), "sysctl.d", "90-tcp-advisor.conf")
	a := newApplier(t, root, dropIn)
	st, _ := a.Store.Load()
	plan := Plan{Changes: []Change{
		{Key: advisor.KeyReservedPorts, From: "", To: "38000", Rule: "widen", Group: 1},
		{Key: advisor.KeyPortRange, From: "40000 40999", To: "35000 40999", Rule: "widen", Group: 1},
		{Key: "net.ipv4.tcp_tw_reuse", From: "0", To: "1", Rule: "reuse", Group: 2},
	}}
	applied, failed := a.Apply(st, plan)
	if len(failed) != 0 || len(applied) != 3 {
		t.Fatalf("applied %d, failed %+v", len(applied), failed)
	}
	if got := readKey(t, root, advisor.KeyPortRange); got != "35000 40999" {
		t.Errorf("range = %q", got)
	}
	reloaded, err := a.Store.Load()
	if err != nil {
		t.Fatal(err)
	}
	if m := reloaded.Managed[advisor.KeyPortRange]; m == nil || m.Original != "40000 40999" || m.LastWritten != "35000 40999" || m.Direction != 1 {
		t.Errorf("managed range = %+v", m)
	}
	if len(reloaded.History) != 3 || reloaded.History[0].Key != advisor.KeyReservedPorts {
		t.Errorf("history = %+v", reloaded.History)
	}
	conf, err := os.ReadFile(dropIn)
	if err != nil {
		t.Fatal(err)
	}
	text := string(conf)
	if !strings.HasPrefix(text, "# Written by tcp-advisor") ||
		strings.Index(text, advisor.KeyReservedPorts+" = 38000") > strings.Index(text, advisor.KeyPortRange+" = 35000 40999") ||
		!strings.Contains(text, "net.ipv4.tcp_tw_reuse = 1") {
		t.Errorf("drop-in:\n%s", text)
	}

	rolled, err := a.Rollback(reloaded)
	if err != nil {
		t.Fatal(err)
	}
	if len(rolled) != 3 || rolled[0].Key != advisor.KeyPortRange || rolled[2].Key != advisor.KeyReservedPorts {
		t.Errorf("rollback order = %+v, want the range first and the reservations last", rolled)
	}
	for key, want := range map[string]string{advisor.KeyPortRange: "40000 40999", advisor.KeyReservedPorts: "", "net.ipv4.tcp_tw_reuse": "0"} {
		if got := readKey(t, root, key); got != want {
			t.Errorf("after rollback %s = %q, want %q", key, got, want)
		}
	}
	if _, err := os.Stat(dropIn); !os.IsNotExist(err) {
		t.Errorf("drop-in not removed after rollback: %v", err)
	}
}

func TestApplyGroupIsAllOrNothing(t *testing.T) {
	root := fakeSys(t, liveKeys)
	// A directory where the range's file should be makes its write fail
	// after the reservation was written.
	rangePath := filepath.Join(root, "net/ipv4/ip_local_port_range")
	os.Remove(rangePath)
	if err := os.Mkdir(rangePath, 0o755); err != nil {
		t.Fatal(err)
	}
	a := newApplier(t, root, "")
	st, _ := a.Store.Load()
	_, failed := a.Apply(st, Plan{Changes: []Change{
		{Key: advisor.KeyReservedPorts, From: "", To: "38000", Group: 1},
		{Key: advisor.KeyPortRange, From: "40000 40999", To: "35000 40999", Group: 1},
	}})
	if len(failed) != 1 {
		t.Fatalf("failed = %+v", failed)
	}
	if got := readKey(t, root, advisor.KeyReservedPorts); got != "" {
		t.Errorf("reservation left behind after the group failed: %q", got)
	}
	if len(st.Managed) != 0 {
		t.Errorf("managed after failure: %+v", st.Managed)
	}
}

func TestApplyRefusesMissingKeyAndStaleValue(t *testing.T) {
	root := fakeSys(t, liveKeys)
	a := newApplier(t, root, "")
	st, _ := a.Store.Load()
	_, failed := a.Apply(st, Plan{Changes: []Change{
		{Key: "net.ipv4.tcp_tw_reuse", From: "2", To: "1", Group: 1}, // live is 0
	}})
	if len(failed) != 1 || !strings.Contains(failed[0].Err.Error(), "not \"2\" as planned") {
		t.Errorf("stale plan: %+v", failed)
	}
	if err := a.Sysctls.Set("net.ipv4.tcp_no_such_key", "1"); err == nil {
		t.Error("writing a missing key succeeded (go-sysctl would create it)")
	}
	if _, err := os.Stat(filepath.Join(root, "net/ipv4/tcp_no_such_key")); !os.IsNotExist(err) {
		t.Error("missing key was created")
	}
}

func TestOutsideChangeReleasesKey(t *testing.T) {
	root := fakeSys(t, liveKeys)
	a := newApplier(t, root, "")
	st, _ := a.Store.Load()
	a.Apply(st, Plan{Changes: []Change{{Key: "net.ipv4.tcp_tw_reuse", From: "0", To: "1", Group: 1}}})
	// Someone else sets it to 2.
	os.WriteFile(filepath.Join(root, "net/ipv4/tcp_tw_reuse"), []byte("2\n"), 0o644)
	released, err := a.ReleaseChangedKeys(st)
	if err != nil {
		t.Fatal(err)
	}
	if len(released) != 1 || released[0].Found != "2" || released[0].Expected != "1" {
		t.Fatalf("released = %+v", released)
	}
	if m := st.Managed["net.ipv4.tcp_tw_reuse"]; !m.Released {
		t.Error("key still managed")
	}
	// A plain rollback leaves their value alone; a named one restores.
	if rolled, _ := a.Rollback(st); len(rolled) != 0 || readKey(t, root, "net.ipv4.tcp_tw_reuse") != "2" {
		t.Errorf("rollback touched a released key: %+v", rolled)
	}
	if _, err := a.Rollback(st, "net.ipv4.tcp_tw_reuse"); err != nil || readKey(t, root, "net.ipv4.tcp_tw_reuse") != "0" {
		t.Errorf("named rollback: %v, value %q", err, readKey(t, root, "net.ipv4.tcp_tw_reuse"))
	}
}

func TestCrashBetweenWriteAndStateUpdate(t *testing.T) {
	root := fakeSys(t, liveKeys)
	a := newApplier(t, root, "")
	// State as saved just before the write, then the kernel value as
	// written, and no state update: the process died in between.
	st := &State{Managed: map[string]*ManagedKey{advisor.KeyPortRange: {Original: "40000 40999", LastWritten: "40000 40999", Pending: "35000 40999"}}}
	if err := a.Store.Save(st); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "net/ipv4/ip_local_port_range"), []byte("35000\t40999\n"), 0o644)
	st, _ = a.Store.Load()
	released, err := a.ReleaseChangedKeys(st)
	if err != nil || len(released) != 0 {
		t.Fatalf("own write taken for an outside change: %+v %v", released, err)
	}
	if m := st.Managed[advisor.KeyPortRange]; m.LastWritten != "35000 40999" || m.Pending != "" {
		t.Errorf("pending write not adopted: %+v", m)
	}
	if _, err := a.Rollback(st); err != nil || readKey(t, root, advisor.KeyPortRange) != "40000 40999" {
		t.Errorf("rollback after crash: %v %q", err, readKey(t, root, advisor.KeyPortRange))
	}
}

// TestApplyReportsLateFailureAsApplied: when the kernel took the value but
// the drop-in cannot be written, the change is reported as applied, with an
// AppliedError, and stays managed.
func TestApplyReportsLateFailureAsApplied(t *testing.T) {
	root := fakeSys(t, liveKeys)
	// A non-empty directory where the drop-in goes: the rename fails.
	dropIn := filepath.Join(t.TempDir(), "90-tcp-advisor.conf")
	os.MkdirAll(filepath.Join(dropIn, "x"), 0o755)
	a := newApplier(t, root, dropIn)
	st, _ := a.Store.Load()
	applied, failed := a.Apply(st, Plan{Changes: []Change{{Key: "net.ipv4.tcp_tw_reuse", From: "0", To: "1", Group: 1}}})
	var ae *AppliedError
	if len(applied) != 1 || len(failed) != 1 || !errors.As(failed[0].Err, &ae) {
		t.Fatalf("applied %+v failed %+v", applied, failed)
	}
	if _, ok := st.Active("net.ipv4.tcp_tw_reuse"); !ok || readKey(t, root, "net.ipv4.tcp_tw_reuse") != "1" {
		t.Error("applied change not kept as managed")
	}
}
