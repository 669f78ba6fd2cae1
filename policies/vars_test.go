package policies

import (
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/tcp-advisor/tcp-advisor/advisor"
)

// TestViewValue: a view converts to the HCL objects rules read, attribute
// by attribute.
func TestViewValue(t *testing.T) {
	rate := 2.5
	owner := advisor.OwnerCount{PID: 9, Command: "java", Unit: "orders.service", Count: 4, LocalPort: 8080, FDs: 10, FDLimit: 20}
	tests := []struct {
		name string
		f    advisor.Findings
		path []string
		want cty.Value
	}{
		{"events", advisor.Findings{Events: advisor.EventFindings{Available: true, Seconds: 3,
			ConnTotals: advisor.ConnTotals{Opens: 7, Failures: 2, ActiveCloses: 1, Retries: 1}}}, []string{"events"},
			cty.ObjectVal(map[string]cty.Value{
				"available": cty.True, "unavailable": cty.StringVal(""), "seconds": cty.NumberIntVal(3),
				"opens": cty.NumberIntVal(7), "connect_failures": cty.NumberIntVal(2), "active_closes": cty.NumberIntVal(1),
				"connect_retries": cty.NumberIntVal(1),
			})},
		{"connections, rates unknown", advisor.Findings{}, []string{"connections"},
			cty.ObjectVal(map[string]cty.Value{
				"rates_known": cty.False, "active_opens_per_second": cty.Zero,
				"passive_opens_per_second": cty.Zero, "time_wait_demand_bound": cty.Zero,
			})},
		{"connections, rates known", advisor.Findings{Connections: advisor.ConnFindings{
			ActiveOpensPerSecond: &rate, PassiveOpensPerSecond: &rate, TimeWaitDemandBound: &rate}}, []string{"connections"},
			cty.ObjectVal(map[string]cty.Value{
				"rates_known": cty.True, "active_opens_per_second": cty.NumberFloatVal(2.5),
				"passive_opens_per_second": cty.NumberFloatVal(2.5), "time_wait_demand_bound": cty.NumberFloatVal(2.5),
			})},
		{"orphans, a findings type itself", advisor.Findings{Orphans: advisor.OrphanFindings{Count: 5, Max: 100}}, []string{"orphans"},
			cty.ObjectVal(map[string]cty.Value{"count": cty.NumberIntVal(5), "max": cty.NumberIntVal(100)})},
		{"close_wait's top owner", advisor.Findings{CloseWait: advisor.CloseWaitFindings{ByOwner: []advisor.OwnerCount{owner}}}, []string{"close_wait", "top_owner"},
			cty.ObjectVal(map[string]cty.Value{
				"pid": cty.NumberIntVal(9), "command": cty.StringVal("java"), "unit": cty.StringVal("orders.service"),
				"count": cty.NumberIntVal(4), "local_port": cty.NumberIntVal(8080), "fds": cty.NumberIntVal(10),
				"fd_limit": cty.NumberIntVal(20), "fds_known": cty.True, "fd_growth_per_second": cty.Zero,
				"fd_growth_known": cty.False, "seconds_to_fd_limit": cty.NumberIntVal(-1),
			})},
		{"listening ports", advisor.Findings{}, []string{"listening_ports"}, cty.ListValEmpty(cty.Number)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := variables(advisor.Snapshot{}, tc.f)[tc.path[0]]
			for _, attr := range tc.path[1:] {
				got = got.GetAttr(attr)
			}
			if !got.RawEquals(tc.want) {
				t.Errorf("got  %#v\nwant %#v", got, tc.want)
			}
		})
	}
}
