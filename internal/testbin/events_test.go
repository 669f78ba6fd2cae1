package testbin

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestMain(m *testing.M) {
	code := m.Run()
	Cleanup()
	os.Exit(code)
}

// TestAdvisorRefusesEvents: under EventsEnv=refused, the tcp-advisor that
// Advisor and AdvisorEntering return says the events are unavailable, each
// for its own reason, and Real finds the binary behind it; without the
// switch they return the binary itself.
func TestAdvisorRefusesEvents(t *testing.T) {
	if os.Geteuid() != 0 {
		Missing(t, "needs root: only root's tcp-advisor gets the events")
	}
	Tool(t, "setpriv", "util-linux")
	bin := Build(t, "cmd/tcp-advisor")
	status := func(path string) string {
		out, err := exec.Command(path, "status", "--state-dir", t.TempDir()).CombinedOutput()
		if err != nil {
			t.Fatalf("%s status: %v\n%s", path, err, out)
		}
		return string(out)
	}
	t.Run("as it is", func(t *testing.T) {
		t.Setenv(EventsEnv, "")
		for _, path := range []string{Advisor(t), AdvisorEntering(t)} {
			if path != bin || Refused(path) != "" {
				t.Errorf("%s (refused %q), want %s as it is", path, Refused(path), bin)
			}
		}
		if out := status(bin); !strings.Contains(out, "kernel events: available") {
			t.Fatalf("root's tcp-advisor has no events, the test proves nothing:\n%s", out)
		}
	})
	t.Run("refused", func(t *testing.T) {
		t.Setenv(EventsEnv, "refused")
		for _, tc := range []struct {
			path, why string
		}{{Advisor(t), CapsDropped}, {AdvisorEntering(t), BPFRefused}} {
			if Refused(tc.path) != tc.why || Real(tc.path) != bin || tc.path == bin {
				t.Errorf("%s: refused %q, real %s; want %q and %s", tc.path, Refused(tc.path), Real(tc.path), tc.why, bin)
			}
			if out := status(tc.path); !strings.Contains(out, "\n"+tc.why) {
				t.Errorf("%s status does not say %q:\n%s", tc.path, tc.why, out)
			}
		}
	})
}
