package advisor

import (
	"testing"
	"time"
)

func TestHistoryMergesWindows(t *testing.T) {
	at := func(sec int) Snapshot { return Snapshot{Time: time.Unix(int64(sec), 0)} }
	got := merge([]Snapshot{at(0), at(60), at(120)}, []Snapshot{at(100), at(110), at(120)})
	want := []int64{0, 60, 100, 110, 120}
	if len(got) != len(want) {
		t.Fatalf("merged %d snapshots, want %d", len(got), len(want))
	}
	for i, w := range want {
		if got[i].Time.Unix() != w {
			t.Errorf("merged[%d] at %d, want %d", i, got[i].Time.Unix(), w)
		}
	}
	if k := keepLast([]Snapshot{at(1), at(2), at(3)}, 2); len(k) != 2 || k[0].Time.Unix() != 2 {
		t.Errorf("keepLast = %v", k)
	}
}
