package agent

import (
	"strings"
	"testing"
	"time"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/advisor/observe"
	"github.com/tcp-advisor/tcp-advisor/remediate"
	"github.com/tcp-advisor/tcp-advisor/systemd"
)

// TestRollbackBesideEnforcingAgent: `tcp-advisor rollback` while the agent
// enforces. The agent sees the rollback in the state, says so once, keeps
// every history record, releases nothing, and, with the exhaustion still
// there, changes the key again once the cooldown since the rollback has
// passed — not before, and not twice.
func TestRollbackBesideEnforcingAgent(t *testing.T) {
	a, _, log, _, root := setup(t, "enforce", "")
	a.Tick()
	if log.count(systemd.EventChangeApplied) == 0 {
		t.Fatalf("nothing applied: %+v", log.events)
	}
	dir := a.own.session.stateDir
	cli, err := OpenSession(observe.Paths{Proc: "/proc", Sys: root, Netns: t.TempDir()}, dir, nil, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	rolled, err := cli.Rollback()
	if err != nil || len(rolled) == 0 {
		t.Fatalf("rollback: %+v %v", rolled, err)
	}
	history := len(cli.State.History)
	applied := log.count(systemd.EventChangeApplied)

	a.Tick()
	if n := log.count(systemd.EventKeyReleased); n != 0 {
		t.Errorf("the agent took the rollback for an outside change (%d key_released)", n)
	}
	var notes []systemd.Event
	for _, e := range log.events {
		if e.Kind == systemd.EventChangeRolledBack {
			notes = append(notes, e)
		}
	}
	if len(notes) != len(rolled) || !strings.Contains(notes[0].Message, "once 5m0s after the rollback") {
		t.Errorf("rollback notes: %+v, want one per key restored (%d) saying when it may change again", notes, len(rolled))
	}
	if got := log.count(systemd.EventChangeApplied); got != applied {
		t.Errorf("re-applied within the cooldown since the rollback")
	}
	if len(a.own.session.State.Managed) != 0 {
		t.Errorf("the agent still manages %v", a.own.session.State.Keys())
	}

	// The cooldown since the rollback has passed: the range is widened
	// again, once.
	a.now = func() time.Time { return time.Now().Add(6 * time.Minute) }
	seen := len(log.events)
	a.Tick()
	a.Tick()
	var again []systemd.Event
	for _, e := range log.events[seen:] {
		if e.Kind == systemd.EventChangeApplied && e.Fields[systemd.FieldKey] == advisor.KeyPortRange {
			again = append(again, e)
		}
	}
	if len(again) != 1 {
		t.Errorf("after the cooldown the range was changed %d times, want once", len(again))
	}
	if n := log.count(systemd.EventChangeRolledBack); n != len(rolled) {
		t.Errorf("the rollback was announced %d times", n)
	}
	disk, err := remediate.NewStore(dir).Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(disk.History) <= history || disk.History[history-1].Action != remediate.ActionRollback {
		t.Errorf("history on disk lost the rollback: %+v", disk.History)
	}
	for _, r := range disk.History {
		if r.Action == remediate.ActionRelease {
			t.Errorf("history has a release: %+v", r)
		}
	}
}
