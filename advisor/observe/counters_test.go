package observe

import (
	"testing"

	"github.com/tcp-advisor/tcp-advisor/advisor"
)

func TestReadCountersFixture(t *testing.T) {
	c, err := ReadCounters("testdata/proc")
	if err != nil {
		t.Fatal(err)
	}
	if c.TimeWait != 896 || c.TCPInUse != 0 {
		t.Errorf("tw=%d inuse=%d, want 896 and 0", c.TimeWait, c.TCPInUse)
	}
	if c.ActiveOpens != 900 || c.PassiveOpens != 900 {
		t.Errorf("ActiveOpens=%v PassiveOpens=%v, want 900 each", c.ActiveOpens, c.PassiveOpens)
	}
	if c.TimeWaitOverflow != 0 || c.ListenOverflows != 0 {
		t.Errorf("overflow counters %v %v, want 0", c.TimeWaitOverflow, c.ListenOverflows)
	}
	if got := (advisor.Snapshot{Counters: c}).SocketsHoldingPorts(); got != 896 {
		t.Errorf("SocketsHoldingPorts = %d, want 896", got)
	}
}

func TestReadCountersMissingProc(t *testing.T) {
	if _, err := ReadCounters(t.TempDir()); err == nil {
		t.Fatal("no error for an empty proc root")
	}
}
