package systemd

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tcp-advisor/tcp-advisor/internal/testbin"
)

const metricsDropIn = "../packaging/systemd/metrics-listen.conf"

// analyzeWithDropIns runs systemd-analyze security --offline=yes on the unit
// with the given drop-ins applied, in a scratch root, and returns the
// overall exposure and the checks that still count.
func analyzeWithDropIns(t *testing.T, dropIns ...string) (float64, map[string]string, string) {
	t.Helper()
	analyze := testbin.Tool(t, "systemd-analyze", "systemd")
	root := t.TempDir()
	dir := filepath.Join(root, "etc/systemd/system")
	if err := os.MkdirAll(filepath.Join(dir, unitFile+".d"), 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile := func(src, dst string) {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(unitFile, filepath.Join(dir, unitFile))
	for _, d := range dropIns {
		copyFile(d, filepath.Join(dir, unitFile+".d", filepath.Base(d)))
	}
	out, err := exec.Command(analyze, "security", "--offline=yes", "--root="+root, "--no-pager", unitFile).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := overallRE.FindSubmatch(out)
	if m == nil {
		t.Fatalf("no overall exposure in:\n%s", out)
	}
	exposure, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	js, err := exec.Command(analyze, "security", "--offline=yes", "--root="+root, "--json=short", unitFile).Output()
	if err != nil {
		t.Fatalf("systemd-analyze security --json: %v", err)
	}
	var checks []struct {
		Name     string  `json:"name"`
		Exposure *string `json:"exposure"`
	}
	if err := json.Unmarshal(js, &checks); err != nil {
		t.Fatal(err)
	}
	counted := map[string]string{}
	for _, c := range checks {
		if c.Exposure != nil && *c.Exposure != "0.0" {
			counted[c.Name] = *c.Exposure
		}
	}
	return exposure, counted, string(out)
}

// TestMetricsListenDropIn: the packaged drop-in for --metrics-listen keeps
// the unit at or below its exposure target, opens exactly AF_INET and
// AF_INET6 beyond the unit's families, allows localhost only, and explains
// every exposure it adds.
func TestMetricsListenDropIn(t *testing.T) {
	base, baseChecks, _ := analyzeWithDropIns(t)
	exposure, checks, out := analyzeWithDropIns(t, metricsDropIn)
	t.Logf("exposure: unit %.1f, with %s %.1f", base, filepath.Base(metricsDropIn), exposure)
	if exposure > maxExposure {
		t.Errorf("exposure with the drop-in %.1f > %.1f:\n%s", exposure, maxExposure, out)
	}
	dropIn, err := os.ReadFile(metricsDropIn)
	if err != nil {
		t.Fatal(err)
	}
	for name, e := range checks {
		if baseChecks[name] == e {
			continue // the unit's own, explained there
		}
		if !strings.Contains(string(dropIn), "# EXPOSURE "+name+" ("+e+")") {
			t.Errorf("the drop-in adds exposure %s (%s) without a \"# EXPOSURE %s (%s)\" comment", name, e, name, e)
		}
	}
	d := unitDirectives(t, metricsDropIn)
	want := map[string]string{
		"Service.RestrictAddressFamilies": "AF_UNIX AF_NETLINK AF_INET AF_INET6",
		"Service.IPAddressAllow":          "localhost",
		"Service.IPAddressDeny":           "any",
	}
	for k, v := range want {
		if got := d[k]; len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if len(d) != len(want) {
		t.Errorf("the drop-in sets %d directives, want exactly %d: %v", len(d), len(want), d)
	}
	unitFamilies := unitDirectives(t, unitFile)["Service.RestrictAddressFamilies"]
	if got := strings.Fields(want["Service.RestrictAddressFamilies"]); len(unitFamilies) != 1 ||
		strings.Join(got[:len(got)-2], " ") != unitFamilies[0] {
		t.Errorf("the drop-in's families %v are not the unit's %v plus AF_INET AF_INET6", got, unitFamilies)
	}
}
