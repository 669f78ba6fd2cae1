package observe

import (
	"os"
	"path/filepath"
	"strings"
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

// scratchProc writes a /proc with the given sockstat, snmp and netstat for
// pid 1, which self points to, and returns its root.
func scratchProc(t *testing.T, sockstat, snmp, netstat []byte) string {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, "1", "net")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"sockstat": sockstat, "snmp": snmp, "netstat": netstat} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("1", filepath.Join(root, "self")); err != nil {
		t.Fatal(err)
	}
	return root
}

// TestReadCountersRejectsNonCounts: a count no kernel writes (negative,
// NaN, infinite) is an error naming it, not a figure.
func TestReadCountersRejectsNonCounts(t *testing.T) {
	fixture := func(p string) string {
		b, err := os.ReadFile(filepath.Join("testdata/proc/1/net", p))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	sockstat, snmp, netstat := fixture("sockstat"), fixture("snmp"), fixture("netstat")
	for _, tc := range []struct {
		name, sockstat, snmp, netstat, want string
	}{
		{"fixture", sockstat, snmp, netstat, ""},
		{"negative tw", strings.Replace(sockstat, "tw 896", "tw -896", 1), snmp, netstat, "sockstat TCP tw is -896"},
		{"NaN ActiveOpens", sockstat, strings.Replace(snmp, " 900 ", " NaN ", 1), netstat, "snmp Tcp ActiveOpens is NaN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadCounters(scratchProc(t, []byte(tc.sockstat), []byte(tc.snmp), []byte(tc.netstat)))
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want one with %q", err, tc.want)
			}
		})
	}
}
