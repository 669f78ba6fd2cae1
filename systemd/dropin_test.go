package systemd

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tcp-advisor/tcp-advisor/internal/testbin"
)

const (
	metricsDropIn       = "../packaging/systemd/metrics-listen.conf"
	allNamespacesDropIn = "../packaging/systemd/all-namespaces.conf"
)

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

// checkDropInExposure runs systemd-analyze on the unit without and with
// the drop-in: the drop-in keeps the exposure at or below the target and
// explains every exposure it adds with an "# EXPOSURE name (value)"
// comment. It returns both exposures and the checks the drop-in adds.
func checkDropInExposure(t *testing.T, dropIn string) (base, with float64, added []string) {
	t.Helper()
	base, baseChecks, _ := analyzeWithDropIns(t)
	with, checks, out := analyzeWithDropIns(t, dropIn)
	t.Logf("exposure: unit %.1f, with %s %.1f", base, filepath.Base(dropIn), with)
	if with > maxExposure {
		t.Errorf("exposure with the drop-in %.1f > %.1f:\n%s", with, maxExposure, out)
	}
	text, err := os.ReadFile(dropIn)
	if err != nil {
		t.Fatal(err)
	}
	for name, e := range checks {
		if baseChecks[name] == e {
			continue // the unit's own, explained there
		}
		added = append(added, name)
		if !strings.Contains(string(text), "# EXPOSURE "+name+" ("+e+")") {
			t.Errorf("the drop-in adds exposure %s (%s) without a \"# EXPOSURE %s (%s)\" comment", name, e, name, e)
		}
	}
	slices.Sort(added)
	return base, with, added
}

// TestMetricsListenDropIn: the packaged drop-in for --metrics-listen keeps
// the unit at or below its exposure target, opens exactly AF_INET and
// AF_INET6 beyond the unit's families, allows localhost only, and explains
// every exposure it adds.
func TestMetricsListenDropIn(t *testing.T) {
	checkDropInExposure(t, metricsDropIn)
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

// TestAllNamespacesDropIn: the packaged drop-in for run --all-namespaces
// adds exactly what setns(2) into a network namespace needs, CAP_SYS_ADMIN
// and net let through RestrictNamespaces=, stays at or below the exposure
// target, and states the exposure before and after as systemd-analyze
// measures them, in its comments and in packaging/README.md.
func TestAllNamespacesDropIn(t *testing.T) {
	base, with, added := checkDropInExposure(t, allNamespacesDropIn)
	if want := []string{"CapabilityBoundingSet=~CAP_SYS_ADMIN", "RestrictNamespaces=~net"}; !slices.Equal(added, want) {
		t.Errorf("the drop-in adds exposures %v, want %v", added, want)
	}
	d := unitDirectives(t, allNamespacesDropIn)
	want := map[string][]string{
		"Service.CapabilityBoundingSet": {"CAP_SYS_ADMIN"},
		// The empty line resets the unit's "yes"; then only net.
		"Service.RestrictNamespaces": {"", "net"},
	}
	for k, v := range want {
		if !slices.Equal(d[k], v) {
			t.Errorf("%s = %q, want %q", k, d[k], v)
		}
	}
	if len(d) != len(want) {
		t.Errorf("the drop-in sets %d directives, want exactly %d: %v", len(d), len(want), d)
	}
	claim := fmt.Sprintf("from %.1f to %.1f", base, with)
	for _, doc := range []string{allNamespacesDropIn, "../packaging/README.md"} {
		text, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(strings.Join(strings.Fields(strings.ReplaceAll(string(text), "#", "")), " "), claim) {
			t.Errorf("%s does not say the exposure goes %q", doc, claim)
		}
	}
}
