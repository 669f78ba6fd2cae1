package remediate

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/policies"
)

// TestSaveRefusesStaleCopy: a store whose copy is older than the file on
// disk never writes over it; Lock brings the copy up to date in place.
func TestSaveRefusesStaleCopy(t *testing.T) {
	dir := t.TempDir()
	mine, theirs := NewStore(dir), NewStore(dir)
	st, _ := mine.Load()
	other, _ := theirs.Load()
	other.History = append(other.History, Record{Time: t0, Action: ActionRollback, Key: "k", From: "2", To: "1"})
	if err := theirs.Save(other); err != nil {
		t.Fatal(err)
	}
	st.History = append(st.History, Record{Time: t0, Action: ActionApply, Key: "j", From: "1", To: "2"})
	if err := mine.Save(st); !errors.Is(err, ErrStateChanged) {
		t.Fatalf("save of a stale copy: %v, want ErrStateChanged", err)
	}
	refreshed, unlock, err := mine.Lock(st)
	if err != nil {
		t.Fatal(err)
	}
	if !refreshed || len(st.History) != 1 || st.History[0].Action != ActionRollback {
		t.Errorf("Lock: refreshed %v, history %+v; want the other store's record", refreshed, st.History)
	}
	st.History = append(st.History, Record{Time: t0, Action: ActionApply, Key: "j", From: "1", To: "2"})
	if err := mine.Save(st); err != nil {
		t.Fatalf("save under the lock: %v", err)
	}
	unlock()
	got, _ := NewStore(dir).Load()
	if len(got.History) != 2 {
		t.Errorf("history on disk = %+v, want both records", got.History)
	}
}

// TestLockExcludes: while one store holds the lock, another waits.
func TestLockExcludes(t *testing.T) {
	dir := t.TempDir()
	first, second := NewStore(dir), NewStore(dir)
	st := &State{Managed: map[string]*ManagedKey{}}
	_, unlock, err := first.Lock(st)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan time.Time, 1)
	go func() {
		_, u, err := second.Lock(&State{})
		if err != nil {
			t.Error(err)
		}
		got <- time.Now()
		u()
	}()
	time.Sleep(100 * time.Millisecond)
	released := time.Now()
	unlock()
	if at := <-got; at.Before(released) {
		t.Errorf("second lock taken %v before the first was released", released.Sub(at))
	}
}

// TestRollbackBesideAgent reproduces what an agent did to a rollback run
// beside it: it took the restored value for someone else's change,
// released the key, wrote its stale state over the rollback's records and
// refused every later change with "released". Now it re-reads the state:
// the key is simply no longer managed, the history keeps every entry, and
// the key may change again once the cooldown since the rollback has
// passed, in either direction.
func TestRollbackBesideAgent(t *testing.T) {
	root := fakeSys(t, liveKeys)
	agent := newApplier(t, root, "")
	cli := &Applier{Sysctls: agent.Sysctls, Store: NewStore(agent.Store.dir), Now: agent.Now}
	st, _ := agent.Store.Load()
	widen := Plan{Changes: []Change{{Key: advisor.KeyPortRange, From: "40000 40999", To: "40000 45999", Rule: "widen", Group: 1}}}
	if _, failed := agent.Apply(st, widen); len(failed) > 0 {
		t.Fatal(failed[0].Err)
	}

	theirs, _ := cli.Store.Load()
	if _, err := cli.Rollback(theirs); err != nil {
		t.Fatal(err)
	}
	live := advisor.MustSysctls(map[string]string{advisor.KeyPortRange: readKey(t, root, advisor.KeyPortRange)})
	released, err := agent.ReleaseChangedKeysIn(st, live)
	if err != nil || len(released) > 0 {
		t.Fatalf("the agent released %+v (%v) after a rollback", released, err)
	}
	disk, _ := NewStore(agent.Store.dir).Load()
	if len(disk.History) != 2 || disk.History[1].Action != ActionRollback || len(disk.Managed) != 0 {
		t.Fatalf("state on disk: managed %v, history %+v; want the apply and the rollback, nothing managed", disk.Keys(), disk.History)
	}
	if len(st.Managed) != 0 {
		t.Errorf("the agent still manages %v", st.Keys())
	}
	// status says the key is no longer managed and what an agent does next
	// (cmd/internal/report renders it).
	status := NewStatus(disk, agent.Sysctls, 10)
	if rb := status.RolledBack; len(rb) != 1 || rb[0].Key != advisor.KeyPortRange || !strings.Contains(rb[0].Next, "--mode dry-run") {
		t.Errorf("status after the rollback: %+v", rb)
	}

	set := policySet(t, rangePolicy) // cooldown 5m
	rolledAt := disk.History[1].Time
	snap := snapshot("40000 40999", "")
	for _, tt := range []struct {
		name      string
		now       time.Time
		to        string
		guardrail string
	}{
		{"within the cooldown since the rollback", rolledAt.Add(time.Minute), "40000 45999", GuardCooldown},
		{"after it", rolledAt.Add(6 * time.Minute), "40000 45999", ""},
		// The rollback narrowed the range: widening again is no reversal.
		{"no hysteresis against the rollback", rolledAt.Add(6 * time.Minute), "40000 42999", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			plan := Planner{Set: set, State: st, Now: tt.now}.Build(snap, []policies.Recommendation{rec("widen", advisor.KeyPortRange, tt.to)})
			switch {
			case tt.guardrail == "" && len(plan.Changes) != 1:
				t.Errorf("want accepted, got refused %+v", plan.Refused)
			case tt.guardrail != "" && (len(plan.Refused) != 1 || plan.Refused[0].Guardrail != tt.guardrail):
				t.Errorf("want %s, got changes %+v refused %+v", tt.guardrail, plan.Changes, plan.Refused)
			}
		})
	}
}

// TestApplyRefusesPlanFromStaleState: a plan made before another process
// changed the state is not applied; the copy is brought up to date.
func TestApplyRefusesPlanFromStaleState(t *testing.T) {
	root := fakeSys(t, liveKeys)
	a := newApplier(t, root, "")
	b := &Applier{Sysctls: a.Sysctls, Store: NewStore(a.Store.dir), Now: a.Now}
	st, _ := a.Store.Load()
	other, _ := b.Store.Load()
	reuse := Plan{Changes: []Change{{Key: advisor.KeyTwReuse, From: "0", To: "1", Rule: "reuse", Group: 1}}}
	if _, failed := b.Apply(other, reuse); len(failed) > 0 {
		t.Fatal(failed[0].Err)
	}
	widen := Plan{Changes: []Change{{Key: advisor.KeyPortRange, From: "40000 40999", To: "40000 45999", Rule: "widen", Group: 1}}}
	applied, failed := a.Apply(st, widen)
	if len(applied) != 0 || len(failed) != 1 || !errors.Is(failed[0].Err, ErrStateChanged) {
		t.Fatalf("applied %+v, failed %+v; want the stale plan refused", applied, failed)
	}
	if got := readKey(t, root, advisor.KeyPortRange); got != "40000 40999" {
		t.Errorf("range = %q, want it untouched", got)
	}
	if _, ok := st.Managed[advisor.KeyTwReuse]; !ok {
		t.Errorf("the copy was not brought up to date: %v", st.Keys())
	}
}

// TestRefreshUnreadable: a file another process left unreadable is a
// StoreError, the copy stays, and nothing is written over the file.
func TestRefreshUnreadable(t *testing.T) {
	dir := t.TempDir()
	s := NewStore(dir)
	st, _ := s.Load()
	st.History = append(st.History, Record{Time: t0, Action: ActionApply, Key: "k"})
	if err := s.Save(st); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.Path(), []byte(`{"version":1,"managed":{"k":{"orig`), 0o640); err != nil {
		t.Fatal(err)
	}
	_, err := s.Refresh(st)
	var se *StoreError
	var ce *CorruptError
	if !errors.As(err, &se) || !errors.As(err, &ce) || len(st.History) != 1 {
		t.Fatalf("refresh of a corrupt file: %v, history %+v", err, st.History)
	}
	if err := s.Save(st); err == nil {
		t.Errorf("saved over a file another process left unreadable")
	}
}
