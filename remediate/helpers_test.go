package remediate

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/policies"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fakeSys writes a fake /proc/sys tree with the given keys.
func fakeSys(t *testing.T, kv map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for k, v := range kv {
		p := filepath.Join(root, strings.ReplaceAll(k, ".", "/"))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func readKey(t *testing.T, root, key string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, strings.ReplaceAll(key, ".", "/")))
	if err != nil {
		t.Fatal(err)
	}
	return advisor.NormalizeValue(string(b))
}

// snapshot builds a snapshot with the given sysctls and listening ports.
func snapshot(portRange, reserved string, listening ...int) advisor.Snapshot {
	s := advisor.Snapshot{
		Time: t0,
		Sysctls: advisor.MustSysctls(map[string]string{
			advisor.KeyPortRange:             portRange,
			advisor.KeyReservedPorts:         reserved,
			advisor.KeyUnprivilegedPortStart: "1024",
			advisor.KeyTwReuse:               "0",
			advisor.KeyFinTimeout:            "60",
			advisor.KeyMaxTwBuckets:          "131072",
			advisor.KeySomaxconn:             "4096",
		}),
		Sockets: &advisor.SocketSummary{Dumped: advisor.StatesOf(advisor.AllStates()...)},
	}
	for _, p := range listening {
		s.Sockets.Listeners = append(s.Sockets.Listeners, advisor.DetailedSocket{
			ID:    advisor.SocketID{Local: netip.AddrPortFrom(netip.MustParseAddr("0.0.0.0"), uint16(p))},
			State: advisor.Listen,
		})
	}
	return s
}

// policySet loads an HCL policy from text.
func policySet(t *testing.T, src string) *policies.Set {
	t.Helper()
	p := filepath.Join(t.TempDir(), "p.hcl")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	set, diags := policies.Load(p)
	if diags.HasErrors() {
		t.Fatalf("policy: %v", diags)
	}
	set.Rules = nil // the tests give their own recommendations
	return set
}

func rec(rule string, kv ...string) policies.Recommendation {
	r := policies.Recommendation{Rule: rule, Severity: "warning", Message: rule + " fired"}
	for i := 0; i+1 < len(kv); i += 2 {
		r.Changes = append(r.Changes, policies.Change{Key: kv[i], Value: kv[i+1]})
	}
	return r
}
