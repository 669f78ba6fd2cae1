package systemd

import (
	"bufio"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/tcp-advisor/tcp-advisor/internal/testbin"
)

const (
	unitFile    = "tcp-advisor.service"
	maxExposure = 2.5
)

// unitDirectives parses a unit file into section.key → values (in order).
func unitDirectives(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[':
			section = strings.Trim(line, "[]")
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("%s: not a directive: %q", path, line)
			}
			out[section+"."+k] = append(out[section+"."+k], v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestUnitDirectives(t *testing.T) {
	d := unitDirectives(t, unitFile)
	tests := []struct {
		key  string
		want string // the last value of the directive
	}{
		{"Service.Type", "notify"},
		{"Service.NotifyAccess", "main"},
		{"Service.ExecStart", "/usr/bin/tcp-advisor run --policy /etc/tcp-advisor/policies.d --state-dir /var/lib/tcp-advisor $TCP_ADVISOR_ARGS"},
		{"Service.EnvironmentFile", "-/etc/tcp-advisor/tcp-advisor.env"},
		{"Service.WatchdogSec", "60s"},
		{"Service.Restart", "on-failure"},
		{"Unit.StartLimitIntervalSec", "300"},
		{"Unit.StartLimitBurst", "5"},
		{"Service.StateDirectory", "tcp-advisor"},
		{"Service.CapabilityBoundingSet", "CAP_DAC_READ_SEARCH CAP_SYS_PTRACE"},
		{"Service.NoNewPrivileges", "yes"},
		{"Service.ProtectSystem", "strict"},
		{"Service.ProtectKernelTunables", "yes"},
		{"Service.ReadWritePaths", "/proc/sys/net -/etc/sysctl.d -/var/lib/prometheus/node-exporter"},
		{"Service.ProtectHome", "yes"},
		{"Service.PrivateTmp", "yes"},
		{"Service.RestrictAddressFamilies", "AF_UNIX AF_NETLINK"},
		{"Service.SystemCallArchitectures", "native"},
		{"Install.WantedBy", "multi-user.target"},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			vals := d[tt.key]
			if len(vals) == 0 {
				t.Fatalf("%s not set", tt.key)
			}
			if got := vals[len(vals)-1]; got != tt.want {
				t.Errorf("%s = %q, want %q", tt.key, got, tt.want)
			}
		})
	}
	// A reload compiles the agent's policies before it signals the agent.
	if got := strings.Join(d["Service.ExecReload"], " | "); got != "/usr/bin/tcp-advisor validate --quiet --agent $MAINPID | /bin/kill -HUP $MAINPID" {
		t.Errorf("ExecReload = %q", got)
	}
	if got := strings.Join(d["Service.SystemCallFilter"], " | "); got != "@system-service | ~@privileged @resources" {
		t.Errorf("SystemCallFilter = %q", got)
	}
}

var overallRE = regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`)

// TestUnitSecurityExposure holds the unit to its hardening target, and every
// setting systemd-analyze still counts against it to a comment saying why.
func TestUnitSecurityExposure(t *testing.T) {
	exposure, counted, out := analyzeWithDropIns(t)
	t.Logf("systemd-analyze security --offline=yes %s: exposure %.1f", unitFile, exposure)
	if exposure > maxExposure {
		t.Errorf("exposure %.1f > %.1f:\n%s", exposure, maxExposure, out)
	}
	unit, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range slices.Sorted(maps.Keys(counted)) {
		if !strings.Contains(string(unit), "# EXPOSURE "+name+" ("+counted[name]+")") {
			t.Errorf("exposure %s (%s) has no \"# EXPOSURE %s (%s)\" comment in the unit", name, counted[name], name, counted[name])
		}
	}
}

// TestUnitVerify runs systemd-analyze verify on a copy of the unit whose
// binary is one that exists here (the real one is installed only by the
// package). verify exits 0 even for unknown keys, so any output fails.
func TestUnitVerify(t *testing.T) {
	analyze := testbin.Tool(t, "systemd-analyze", "systemd")
	unit, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	stand := testbin.Tool(t, "true", "coreutils")
	copyPath := filepath.Join(t.TempDir(), unitFile)
	text := strings.ReplaceAll(string(unit), "/usr/bin/tcp-advisor ", stand+" ")
	if err := os.WriteFile(copyPath, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(analyze, "verify", "--no-pager", copyPath)
	cmd.Env = append(os.Environ(), "SYSTEMD_LOG_COLOR=0")
	out, err := cmd.CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// stateModesRE finds the README's promise about the state directory.
var stateModesRE = regexp.MustCompile(`mode (0[0-7]{3}) in a (0[0-7]{3}) directory`)

// TestStateDirectoryModeAsDocumented: the directory systemd makes for the
// agent's state has the mode the README states.
func TestStateDirectoryModeAsDocumented(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := stateModesRE.FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md states no mode for the state directory (\"mode 0NNN in a 0NNN directory\")")
	}
	d := unitDirectives(t, unitFile)
	if got := d["Service.StateDirectoryMode"]; len(got) != 1 || got[0] != string(m[2]) {
		t.Errorf("StateDirectoryMode = %v, README.md says the directory is %s", got, m[2])
	}
}
