package packaging

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tcp-advisor/tcp-advisor/internal/dashboard"
	"github.com/tcp-advisor/tcp-advisor/internal/netnstest"
	"github.com/tcp-advisor/tcp-advisor/internal/testbin"
)

// TestKernelFirstScrapeCarriesDashboardFamilies runs the agent on a healthy
// host — a fresh network namespace with nothing in it — and reads its
// first textfile: every family a dashboard query names is there, so no
// panel says "No data" before trouble starts. Where the kernel refuses
// the connection events, the families only they feed have no series, by
// design, and kernel_events_available says why.
func TestKernelFirstScrapeCarriesDashboardFamilies(t *testing.T) {
	bin := testbin.Advisor(t)
	ns := netnstest.New(t)
	textfile := filepath.Join(t.TempDir(), "tcp-advisor.prom")
	cmd := ns.Command(context.Background(), bin, "run", "--state-dir", t.TempDir(), "--metrics-textfile", textfile)
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	var data []byte
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var err error
		if data, err = os.ReadFile(textfile); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no textfile after 20s: %v\nagent log:\n%s", err, log.String())
		}
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(strings.NewReader(string(data)))
	if err != nil {
		t.Fatalf("textfile: %v\n%s", err, data)
	}
	wanted, err := dashboard.Families(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(wanted) < 20 {
		t.Fatalf("the dashboard queries only %d families: %v", len(wanted), wanted)
	}
	// The families with no series while the events are unavailable.
	eventsOnly := map[string]bool{"tcp_advisor_connect_failures_total": true, "tcp_advisor_opens_total": true}
	why := testbin.Refused(bin)
	for _, n := range wanted {
		mf, ok := mfs[n]
		switch {
		case why != "" && eventsOnly[n]:
			if len(mf.GetMetric()) != 0 {
				t.Errorf("without the events the first scrape has %d series of %s", len(mf.GetMetric()), n)
			}
		case !ok || len(mf.GetMetric()) == 0:
			t.Errorf("the first scrape has no %s, which the dashboard queries", n)
		}
	}
	if why != "" {
		av := mfs["tcp_advisor_kernel_events_available"].GetMetric()
		if len(av) != 1 || av[0].GetGauge().GetValue() != 0 || len(av[0].GetLabel()) != 1 || !strings.HasPrefix(av[0].GetLabel()[0].GetValue(), why) {
			t.Errorf("tcp_advisor_kernel_events_available = %v, want 0 with reason %q...", av, why)
		}
	}
	t.Logf("first scrape carries the %d families the dashboard queries", len(wanted))
}
