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
	return policies.NormalizeValue(string(b))
}

// snapshot builds a snapshot with the given sysctls and listening ports.
func snapshot(portRange, reserved string, listening ...int) advisor.Snapshot {
	pr, _ := advisor.ParsePortRange(portRange)
	rs, _ := advisor.ParsePortSet(reserved)
	s := advisor.Snapshot{
		Time: t0,
		Sysctls: advisor.Sysctls{
			PortRange: pr, ReservedPorts: rs, UnprivilegedPortStart: 1024,
			Raw: map[string]string{
				KeyPortRange:                  pr.String(),
				KeyReservedPorts:              rs.String(),
				"net.ipv4.tcp_tw_reuse":       "0",
				"net.ipv4.tcp_fin_timeout":    "60",
				"net.ipv4.tcp_max_tw_buckets": "131072",
				"net.core.somaxconn":          "4096",
			},
		},
		Sockets: &advisor.SocketSummary{},
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
	return set
}

func rec(rule string, kv ...string) policies.Recommendation {
	r := policies.Recommendation{Rule: rule, Severity: "warning", Message: rule + " fired"}
	for i := 0; i+1 < len(kv); i += 2 {
		r.Changes = append(r.Changes, policies.Change{Key: kv[i], Value: kv[i+1]})
	}
	return r
}
