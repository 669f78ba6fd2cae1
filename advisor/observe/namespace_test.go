package observe

import "testing"

// ReadCountersOf reads /proc/<pid>/net: the fixture's pid 1 is what
// ReadCounters reads through /proc/self.
func TestReadCountersOfFixture(t *testing.T) {
	self, err := ReadCounters("testdata/proc")
	if err != nil {
		t.Fatal(err)
	}
	of, err := ReadCountersOf("testdata/proc", 1)
	if err != nil {
		t.Fatal(err)
	}
	if of != self || of.TimeWait != 896 {
		t.Errorf("ReadCountersOf = %+v, want %+v", of, self)
	}
	if _, err := ReadCountersOf("testdata/proc", 2); err == nil {
		t.Error("no error for a pid without /proc/<pid>/net")
	}
}
