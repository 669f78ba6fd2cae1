package dashboard

import (
	"slices"
	"testing"
)

// TestFamilies reads the shipped dashboard: panel queries and variables,
// Grafana's own variables substituted.
func TestFamilies(t *testing.T) {
	got, err := Families("../../packaging/grafana/tcp-advisor.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"tcp_advisor_worst_utilization_ratio", // a panel
		"tcp_advisor_active_opens_total",      // inside rate(...[$__rate_interval])
		"tcp_advisor_changes_total",           // inside increase(...[$__range])
		"tcp_advisor_tick_success",            // the netns variable
	} {
		if !slices.Contains(got, want) {
			t.Errorf("Families lacks %s: %v", want, got)
		}
	}
	if !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
		t.Errorf("not sorted and unique: %v", got)
	}
}
