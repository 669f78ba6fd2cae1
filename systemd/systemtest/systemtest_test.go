package systemtest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tcp-advisor/tcp-advisor/internal/dashboard"
	"github.com/tcp-advisor/tcp-advisor/internal/testbin"
	"github.com/tcp-advisor/tcp-advisor/systemd"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

const (
	unit        = "tcp-advisor.service"
	maxExposure = 2.5
	oldVersion  = "0.1.0"
	newVersion  = "0.1.1"
)

// TestServiceInContainer installs the .deb into a booted systemd and drives
// the service as an operator would. The subtests share one container and
// run in order; each states what it leaves behind for the next.
func TestServiceInContainer(t *testing.T) {
	requireSystemTest(t)
	start := time.Now()

	debs := buildDebs(t, oldVersion, newVersion)
	tcpload := testbin.Build(t, "internal/cmd/tcpload")

	c := Boot(t, containerPrep(t))
	t.Logf("container booted in %v", time.Since(start).Round(time.Millisecond))
	c.CopyIn(t, debs[oldVersion], "/var/tmp/tcp-advisor_"+oldVersion+".deb", 0o644)
	c.CopyIn(t, debs[newVersion], "/var/tmp/tcp-advisor_"+newVersion+".deb", 0o644)
	c.CopyIn(t, tcpload, "/usr/local/bin/tcpload", 0o755)

	if !t.Run("package", func(t *testing.T) { testPackage(t, c) }) {
		return
	}
	t.Run("security", func(t *testing.T) { testSecurity(t, c) })
	t.Run("enforce unprivileged", func(t *testing.T) { testEnforceUnprivileged(t, c) })
	t.Run("sandbox", func(t *testing.T) { testSandbox(t, c) })

	t.Run("agent", func(t *testing.T) {
		for _, st := range []struct {
			name string
			f    func(*testing.T, *Container)
		}{
			{"start", testStart},
			{"journal", testJournal},
			{"reload", testReload},
			{"policy directory README", testPolicyDirREADME},
			{"broken policy", testBrokenPolicy},
			{"env file enforce line", testEnvFileEnforce},
			{"enforce under exhaustion", testEnforce},
			{"close-wait leak", testCloseWaitLeak},
			{"all namespaces, worst first", testAllNamespacesWorstFirst},
			{"rollback beside the agent", testRollbackBesideAgent},
			{"all namespaces, the drop-in", testAllNamespacesDropIn},
			{"stop", testStop},
			{"rollback", testRollback},
			{"reboot", testReboot},
			{"metrics endpoint, first scrape", testMetricsFirstScrape},
		} {
			if !t.Run(st.name, func(t *testing.T) { st.f(t, c) }) {
				return
			}
		}
	})
	t.Run("upgrade", func(t *testing.T) { testUpgrade(t, c) })
	t.Run("remove and purge", func(t *testing.T) { testRemove(t, c) })
	t.Logf("system test took %v", time.Since(start).Round(time.Millisecond))
}

// buildDebs builds the .deb of each version from packaging/nfpm.yaml as
// `make package` does, with nfpm at the version internal/tools/go.mod pins, but into a
// private directory: bin/ and dist/ belong to whoever runs make, possibly at
// the same time as this test.
func buildDebs(t *testing.T, versions ...string) map[string]string {
	t.Helper()
	root := testbin.RepoRoot(t)
	dir := t.TempDir()
	nfpm := filepath.Join(dir, "nfpm")
	build := exec.Command("go", "build", "-o", nfpm, "github.com/goreleaser/nfpm/v2/cmd/nfpm")
	build.Dir = filepath.Join(root, "internal", "tools")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building nfpm: %v\n%s", err, out)
	}
	// The stage looks like the repository root to nfpm.yaml's relative paths.
	stage := filepath.Join(dir, "stage")
	if err := os.MkdirAll(filepath.Join(stage, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"systemd", "packaging", "policies", "LICENSE", "NOTICE", "CHANGELOG.md"} {
		if err := os.Symlink(filepath.Join(root, d), filepath.Join(stage, d)); err != nil {
			t.Fatal(err)
		}
	}
	debs := map[string]string{}
	for _, v := range versions {
		// The binary carries the package's version, as `make package`
		// stamps it.
		build := exec.Command("go", "build", "-trimpath", "-ldflags", "-X main.version="+v, "-o", filepath.Join(stage, "bin", "tcp-advisor"), "./cmd/tcp-advisor")
		build.Dir = root
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", v, err, out)
		}
		// The man page and completions, as `make build` writes them.
		gen := exec.Command(filepath.Join(root, "packaging", "gen-docs.sh"), filepath.Join(stage, "bin", "tcp-advisor"), filepath.Join(stage, "bin"))
		if out, err := gen.CombinedOutput(); err != nil {
			t.Fatalf("gen-docs.sh: %v\n%s", err, out)
		}
		target := filepath.Join(dir, "tcp-advisor_"+v+".deb")
		cmd := exec.Command(nfpm, "package", "--config", "packaging/nfpm.yaml", "--packager", "deb", "--target", target)
		cmd.Dir = stage
		cmd.Env = append(os.Environ(), "TCP_ADVISOR_VERSION="+v, "TCP_ADVISOR_ARCH="+runtime.GOARCH)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("nfpm package %s: %v\n%s", v, err, out)
		}
		debs[v] = target
	}
	return debs
}

// containerPrep is written over the container's root before it boots: its
// own machine ID, and the host's enabled services and timers masked, so the
// container boots only what the test needs (the host here enables
// postgresql, for one).
func containerPrep(t *testing.T) map[string][]byte {
	t.Helper()
	prep := map[string][]byte{
		"/etc/machine-id": []byte(randomHex(t, 16) + "\n"),
	}
	for _, dir := range []string{"multi-user.target.wants", "timers.target.wants"} {
		entries, _ := os.ReadDir(filepath.Join("/etc/systemd/system", dir))
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".service") || strings.HasSuffix(e.Name(), ".timer") {
				prep[filepath.Join("/etc/systemd/system", e.Name())] = nil
			}
		}
	}
	return prep
}

func testPackage(t *testing.T, c *Container) {
	c.Run(t, "dpkg", "-i", "/var/tmp/tcp-advisor_"+oldVersion+".deb")

	status := c.Run(t, "dpkg-query", "-W", "-f=${Status} ${Version}", "tcp-advisor")
	if want := "install ok installed " + oldVersion + "-1"; status != want {
		t.Errorf("dpkg-query: %q, want %q", status, want)
	}
	conffiles := c.Run(t, "dpkg-query", "-W", "-f=${Conffiles}", "tcp-advisor")
	for _, f := range []string{"/etc/tcp-advisor/tcp-advisor.env", "/etc/tcp-advisor/policies.d/README"} {
		if !strings.Contains(conffiles, f+" ") {
			t.Errorf("%s is not a conffile:\n%s", f, conffiles)
		}
	}
	files := c.Run(t, "dpkg", "-L", "tcp-advisor")
	for _, f := range []string{"/usr/bin/tcp-advisor", "/usr/lib/systemd/system/tcp-advisor.service",
		"/usr/lib/systemd/catalog/tcp-advisor.catalog", "/etc/tcp-advisor/policies.d",
		manPage, "/usr/share/bash-completion/completions/tcp-advisor", "/usr/share/zsh/vendor-completions/_tcp-advisor",
		"/usr/share/doc/tcp-advisor/copyright", "/usr/share/doc/tcp-advisor/CHANGELOG.md"} {
		if !containsLine(files, f) {
			t.Errorf("dpkg -L does not list %s:\n%s", f, files)
		}
	}
	testDocs(t, c)
	if cp := c.Run(t, "cat", "/usr/share/doc/tcp-advisor/copyright"); !strings.Contains(cp, "\nLicense: Apache-2.0\n") {
		t.Errorf("/usr/share/doc/tcp-advisor/copyright names no Apache-2.0 licence:\n%s", cp)
	}
	c.Run(t, "test", "-f", "/usr/share/common-licenses/Apache-2.0")

	cat := c.Run(t, "systemctl", "cat", unit)
	for _, want := range []string{
		"ExecStart=/usr/bin/tcp-advisor run --policy /etc/tcp-advisor/policies.d --state-dir /var/lib/tcp-advisor $TCP_ADVISOR_ARGS",
		"Type=notify", "WatchdogSec=",
	} {
		if !strings.Contains(cat, want) {
			t.Errorf("systemctl cat lacks %q", want)
		}
	}
	// Installed, neither enabled nor started.
	if out, _ := c.Try("systemctl", "is-enabled", unit); strings.TrimSpace(out) != "disabled" {
		t.Errorf("is-enabled after install = %q, want disabled", strings.TrimSpace(out))
	}
	if out, _ := c.Try("systemctl", "is-active", unit); strings.TrimSpace(out) != "inactive" {
		t.Errorf("is-active after install = %q, want inactive", strings.TrimSpace(out))
	}

	catalog := c.Run(t, "journalctl", "--list-catalog", "--no-pager")
	for _, k := range systemd.EventKinds() {
		if !strings.Contains(catalog, k.MessageID()+" tcp-advisor: ") {
			t.Errorf("catalog entry for %v (%s) not installed", k, k.MessageID())
		}
	}
	c.Run(t, "test", "-f", "/etc/tcp-advisor/policies.d/README")
	// The default policies ship as files to copy from, and validate.
	if out := c.Run(t, "tcp-advisor", "validate", "/usr/share/tcp-advisor/policies"); !strings.HasPrefix(out, "ok: 16 file(s), 8 rule(s)") || !strings.Contains(out, "(replaces default/10-port-exhaustion.hcl") {
		t.Errorf("validate of the shipped defaults: %q", out)
	}
}

const manPage = "/usr/share/man/man8/tcp-advisor.8.gz"

var versionRE = regexp.MustCompile(`^tcp-advisor \S+ \(commit \S+, go\S+ linux/\w+\)$`)

// testDocs: the installed binary tells its version, man finds its page,
// the page renders, and both shells load the completion.
func testDocs(t *testing.T, c *Container) {
	if v := strings.TrimSpace(c.Run(t, "tcp-advisor", "--version")); !versionRE.MatchString(v) {
		t.Errorf("tcp-advisor --version = %q", v)
	}
	if where := strings.TrimSpace(c.Run(t, "man", "-w", "tcp-advisor")); where != manPage {
		t.Errorf("man -w tcp-advisor = %q, want %s", where, manPage)
	}
	page := c.Sh(t, "MANWIDTH=100 man -P cat tcp-advisor 2>&1")
	for _, want := range []string{"TCP-ADVISOR(8)", "tcp-advisor rollback", "--state-dir DIR", "EXIT STATUS", "COPYRIGHT", "Apache License, Version 2.0"} {
		if !strings.Contains(page, want) {
			t.Errorf("man tcp-advisor lacks %q:\n%s", want, page)
		}
	}
	if out := c.Run(t, "bash", "-c", "source /usr/share/bash-completion/completions/tcp-advisor && complete -p tcp-advisor"); strings.TrimSpace(out) != "complete -F _tcp_advisor tcp-advisor" {
		t.Errorf("bash completion: %q", out)
	}
	if out, err := c.Try("zsh", "-f", "-c", "fpath=(/usr/share/zsh/vendor-completions $fpath); autoload -U compinit; compinit -u -D; print -r -- $_comps[tcp-advisor]"); err != nil || strings.TrimSpace(out) != "_tcp-advisor" {
		t.Errorf("zsh does not find the completion in vendor-completions: %q %v", out, err)
	}
}

// testEnforceUnprivileged: `run --mode enforce` as a user who may not write
// sysctls fails at start, in a unit of its own, and journald records its
// error at priority err as an agent_failed event, whose catalog entry says
// what to do.
func testEnforceUnprivileged(t *testing.T, c *Container) {
	const u = "tcpadv-unprivileged"
	out, err := c.Try("systemd-run", "--wait", "--quiet", "--unit="+u, "-p", "User=nobody",
		"/usr/bin/tcp-advisor", "run", "--mode", "enforce", "--state-dir", "/var/tmp/"+u)
	if err == nil {
		t.Fatalf("run --mode enforce as nobody succeeded: %s", out)
	}
	defer c.Try("systemctl", "reset-failed", u)
	// journald may store the exited unit's last entries a moment after
	// systemd-run returns, and an entry whose sender has exited by the time
	// journald reads it carries no _SYSTEMD_UNIT (journald looks the cgroup
	// up in /proc): read the unit's entries and nobody's agent_failed ones
	// until the error is there.
	var entries []journalEntry
	var failure journalEntry
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		entries = unitJournal(t, c, u+".service")
		failed := bootJournal(t, c, "MESSAGE_ID="+systemd.EventAgentFailed.MessageID(), "_UID=65534")
		for _, e := range append(entries, failed...) {
			if strings.Contains(e["MESSAGE"], "enforce mode needs to write the sysctls its rules set") {
				failure = e
			}
		}
		if failure != nil || time.Now().After(deadline) {
			break
		}
	}
	if failure == nil {
		t.Fatalf("no journal entry of %s names the missing write permission", u)
	}
	if failure["PRIORITY"] != "3" || failure["MESSAGE_ID"] != systemd.EventAgentFailed.MessageID() {
		t.Errorf("the error is journalled at PRIORITY=%s MESSAGE_ID=%s, want 3 and agent_failed's: %v", failure["PRIORITY"], failure["MESSAGE_ID"], failure)
	}
	for _, e := range entries {
		if strings.Contains(e["MESSAGE"], "did not set") {
			t.Errorf("the refused agent tried a change: %v", e)
		}
	}
}

var exposureRE = regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`)

// checkExposure runs systemd-analyze security on the installed unit, with
// the drop-ins in force, and fails the test above maxExposure; what is
// tells how the unit is set up.
func checkExposure(t *testing.T, c *Container, what string) {
	t.Helper()
	out := c.Run(t, "systemd-analyze", "security", "--no-pager", unit)
	m := exposureRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	exposure, _ := strconv.ParseFloat(m[1], 64)
	t.Logf("systemd-analyze security %s (%s): %.1f", unit, what, exposure)
	if exposure > maxExposure {
		t.Errorf("exposure %.1f > %.1f:\n%s", exposure, maxExposure, out)
	}
}

func testSecurity(t *testing.T, c *Container) {
	checkExposure(t, c, "installed, in the container")
	// verify exits 0 even on unknown directives: any output is a finding.
	ver, err := c.Try("sh", "-c", "systemd-analyze verify "+unit+" 2>&1")
	if err != nil || strings.TrimSpace(ver) != "" {
		t.Errorf("systemd-analyze verify: %v\n%s", err, ver)
	}
}

// probeScript runs under the installed unit's sandbox and reports what the
// agent needs to be able to do (and some of what it must not).
const probeScript = `#!/bin/sh
try() { if "$@" >/dev/null 2>&1; then echo ok; else echo refused; fi; }
rw() { v=$(cat "$1") && printf '%s\n' "$v" > "$1"; }
echo "CAPS=$(sed -n 's/^CapEff:[[:space:]]*//p' /proc/self/status)"
echo "NET_WRITE=$(try rw /proc/sys/net/ipv4/ip_local_port_range)"
echo "CORE_WRITE=$(try rw /proc/sys/net/core/somaxconn)"
echo "VM_WRITE=$(try rw /proc/sys/vm/swappiness)"
echo "FD_READ=$(try sh -c 'ls -l /proc/$1/fd | grep -q -- "->"' probe "$1")"
echo "PROC_CGROUP=$(try cat /proc/$1/cgroup)"
echo "SOCK_DIAG=$(try ss -tan)"
echo "STATE_WRITE=$(try sh -c 'echo x > /var/lib/tcp-advisor/.probe && rm /var/lib/tcp-advisor/.probe')"
echo "SYSCTLD_WRITE=$(try sh -c 'echo "# probe" > /etc/sysctl.d/zz-tcpadv-probe.conf && rm /etc/sysctl.d/zz-tcpadv-probe.conf')"
echo "ETC_WRITE=$(try sh -c 'echo x > /etc/tcpadv-probe')"
echo "USR_WRITE=$(try sh -c 'echo x > /usr/tcpadv-probe')"
echo "HOME_HIDDEN=$(try test ! -e /root/tcpadv-home-probe)"
`

// sandboxUnit turns the installed unit into a one-shot running the probe
// under exactly the same sandbox.
func sandboxUnit(installed, probe, target string) string {
	var b strings.Builder
	for _, line := range strings.Split(installed, "\n") {
		key, _, _ := strings.Cut(line, "=")
		switch key {
		case "Type":
			b.WriteString("Type=oneshot\n")
		case "ExecStart":
			fmt.Fprintf(&b, "ExecStart=%s %s\n", probe, target)
		case "ExecReload", "WatchdogSec", "Restart", "RestartSec":
		default:
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// testSandbox checks that the hardening leaves the agent what it needs:
// net.* sysctl writes (the container has its own network namespace, so the
// host is never touched), other users' /proc/<pid>/fd, sock_diag, its state
// directory and /etc/sysctl.d, and nothing else writable.
func testSandbox(t *testing.T, c *Container) {
	c.Run(t, "systemd-run", "--unit=tcpadv-sleeper", "-p", "User=nobody", "sleep", "600")
	t.Cleanup(func() { c.Try("systemctl", "stop", "tcpadv-sleeper") })
	pid := strings.TrimSpace(c.Run(t, "systemctl", "show", "-p", "MainPID", "--value", "tcpadv-sleeper"))
	if pid == "" || pid == "0" {
		t.Fatalf("sleeper has no PID")
	}
	c.WriteFile(t, "/usr/local/libexec/tcpadv-probe", []byte(probeScript), 0o755)
	c.WriteFile(t, "/root/tcpadv-home-probe", []byte("ProtectHome= must hide this\n"), 0o644)
	installed := c.Run(t, "cat", "/usr/lib/systemd/system/"+unit)
	c.WriteFile(t, "/etc/systemd/system/tcpadv-probe.service", []byte(sandboxUnit(installed, "/usr/local/libexec/tcpadv-probe", pid)), 0o644)
	c.Run(t, "systemctl", "daemon-reload")
	if out, err := c.Try("systemctl", "start", "tcpadv-probe.service"); err != nil {
		t.Fatalf("probe unit failed: %v\n%s", err, out)
	}
	out := c.Run(t, "journalctl", "-u", "tcpadv-probe.service", "-o", "cat", "--no-pager")
	got := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			got[k] = v
		}
	}
	want := map[string]string{
		"CAPS":          "000000c000080004", // CAP_DAC_READ_SEARCH (2) | CAP_SYS_PTRACE (19) | CAP_PERFMON (38) | CAP_BPF (39)
		"NET_WRITE":     "ok",
		"CORE_WRITE":    "ok",
		"VM_WRITE":      "refused",
		"FD_READ":       "ok",
		"PROC_CGROUP":   "ok",
		"SOCK_DIAG":     "ok",
		"STATE_WRITE":   "ok",
		"SYSCTLD_WRITE": "ok",
		"ETC_WRITE":     "refused",
		"USR_WRITE":     "refused",
		"HOME_HIDDEN":   "ok",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("sandbox probe %s = %q, want %q", k, got[k], v)
		}
	}
	if t.Failed() {
		t.Logf("probe output:\n%s", out)
	}
	c.Run(t, "rm", "/etc/systemd/system/tcpadv-probe.service")
	c.Run(t, "systemctl", "daemon-reload")
}

// journalEntry is one object of journalctl -o json; only string values are
// kept (binary and repeated fields come as arrays).
type journalEntry map[string]string

// journal returns the entries of `journalctl -u tcp-advisor -b` plus any
// extra match arguments.
func journal(t *testing.T, c *Container, matches ...string) []journalEntry {
	t.Helper()
	return unitJournal(t, c, unit, matches...)
}

// unitJournal returns the entries of `journalctl -u u -b` plus any extra
// match arguments.
func unitJournal(t *testing.T, c *Container, u string, matches ...string) []journalEntry {
	t.Helper()
	return bootJournal(t, c, append([]string{"-u", u}, matches...)...)
}

// bootJournal returns the entries of `journalctl -b` with the match
// arguments.
func bootJournal(t *testing.T, c *Container, matches ...string) []journalEntry {
	t.Helper()
	args := append([]string{"journalctl", "--no-pager", "-b", "-o", "json"}, matches...)
	out := c.Run(t, args...)
	var entries []journalEntry
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var raw map[string]any
		if err := json.Unmarshal(sc.Bytes(), &raw); err != nil {
			t.Fatalf("journalctl -o json: %v: %s", err, sc.Text())
		}
		e := journalEntry{}
		for k, v := range raw {
			if s, ok := v.(string); ok {
				e[k] = s
			}
		}
		entries = append(entries, e)
	}
	return entries
}

// events returns the agent's entries of one kind.
func events(t *testing.T, c *Container, kind systemd.EventKind) []journalEntry {
	t.Helper()
	return journal(t, c, "MESSAGE_ID="+kind.MessageID())
}

// waitEvent polls the journal until an entry of kind, beyond the first
// `after` ones, satisfies match; it returns that entry.
func waitEvent(t *testing.T, c *Container, kind systemd.EventKind, after int, timeout time.Duration, match func(journalEntry) bool) journalEntry {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		es := events(t, c, kind)
		for i := after; i < len(es); i++ {
			if match == nil || match(es[i]) {
				return es[i]
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %v journal entry (MESSAGE_ID=%s) in %v; %d such entries in all: %v", kind, kind.MessageID(), timeout, len(es), es)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func show(t *testing.T, c *Container, prop string) string {
	t.Helper()
	return strings.TrimSpace(c.Run(t, "systemctl", "show", "-p", prop, "--value", unit))
}

// settledState is the unit's ActiveState once it has left "activating"
// and "reloading", or after 30 s: a restart the package's scripts started
// may still be waiting for the new agent's READY=1 on a loaded machine.
func settledState(t *testing.T, c *Container) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		state := show(t, c, "ActiveState")
		if (state != "activating" && state != "reloading") || time.Now().After(deadline) {
			return state
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func requireActive(t *testing.T, c *Container) {
	t.Helper()
	if state := show(t, c, "ActiveState"); state != "active" {
		t.Fatalf("ActiveState = %q, want active", state)
	}
}

// testStart: leaves the agent enabled and running in dry-run.
func testStart(t *testing.T, c *Container) {
	// Type=notify: this returns once the agent sent READY=1, after its
	// first tick.
	c.Run(t, "systemctl", "enable", "--now", unit)
	requireActive(t, c)
	if got := strings.TrimSpace(c.Run(t, "systemctl", "is-enabled", unit)); got != "enabled" {
		t.Errorf("is-enabled = %q", got)
	}
	// The container may grant CAP_BPF and CAP_PERFMON (nspawn
	// --capability): the unit's bounding set and system call filter let
	// the agent load its connection-events program with them.
	if status := show(t, c, "StatusText"); status == "" {
		t.Errorf("StatusText is empty: the agent sends no STATUS=")
	} else if strings.Contains(status, "kernel events unavailable") {
		t.Errorf("the unit does not let the agent load its events program: %s", status)
	} else {
		t.Logf("StatusText: %s", status)
	}
	if n := show(t, c, "NRestarts"); n != "0" {
		t.Errorf("NRestarts = %s", n)
	}
}

// testJournal: structured entries with MESSAGE_IDs, fields, and catalog.
func testJournal(t *testing.T, c *Container) {
	started := waitEvent(t, c, systemd.EventAgentStarted, 0, 15*time.Second, nil)
	if started[systemd.FieldMode] == "" {
		t.Errorf("agent_started entry has no %s field: %v", systemd.FieldMode, started)
	}
	// The version the package installed, in the entry and in status.
	if v := started[systemd.FieldVersion]; v != oldVersion || !strings.Contains(started["MESSAGE"], "tcp-advisor "+oldVersion+" running") {
		t.Errorf("agent_started %s = %q, MESSAGE %q: want version %s", systemd.FieldVersion, v, started["MESSAGE"], oldVersion)
	}
	if out := c.Run(t, "tcp-advisor", "status"); !strings.HasPrefix(out, "tcp-advisor "+oldVersion+"\n") {
		t.Errorf("status does not start with its version:\n%s", out)
	}
	waitEvent(t, c, systemd.EventPolicyLoaded, 0, 15*time.Second, nil)

	known := map[string]bool{}
	for _, k := range systemd.EventKinds() {
		known[k.MessageID()] = true
	}
	mainPID := show(t, c, "MainPID")
	for _, e := range journal(t, c) {
		if e["SYSLOG_IDENTIFIER"] != systemd.Identifier || e["_PID"] != mainPID {
			continue // systemd's own lines about the unit, or stderr of an earlier run
		}
		if id := e["MESSAGE_ID"]; id != "" && !known[id] {
			t.Errorf("entry with unknown MESSAGE_ID %s: %v", id, e)
		}
		if e["PRIORITY"] == "" {
			t.Errorf("entry without PRIORITY: %v", e)
		}
	}

	// The catalog explains entries under journalctl -x.
	x := c.Run(t, "journalctl", "--no-pager", "-b", "-x", "-u", unit, "MESSAGE_ID="+systemd.EventAgentStarted.MessageID())
	if !strings.Contains(x, "Defined-By: tcp-advisor") {
		t.Errorf("journalctl -x shows no catalog text:\n%s", x)
	}
}

// testReload: SIGHUP reload is logged, the process is not restarted.
func testReload(t *testing.T, c *Container) {
	pid := show(t, c, "MainPID")
	before := len(events(t, c, systemd.EventReloaded))
	c.Run(t, "systemctl", "reload", unit)
	waitEvent(t, c, systemd.EventReloaded, before, 20*time.Second, nil)
	requireActive(t, c)
	if now := show(t, c, "MainPID"); now != pid {
		t.Errorf("MainPID %s -> %s: reload restarted the agent", pid, now)
	}
}

// brokenPolicy fails on line 3: rule blocks have no such argument.
const brokenPolicy = `# Dropped by the system test: must be rejected, with its file and line.
rule "broken" {
  no_such_argument = 1
  when             = true
}
`

// testBrokenPolicy: `systemctl reload` with a broken file fails, names
// the file, line and column where `systemctl status` shows it, and never
// signals the agent, which keeps its policies. The agent's own check (a
// SIGHUP that bypasses the unit's ExecReload) keeps them too and journals
// the error. Leaves policies.d empty.
func testBrokenPolicy(t *testing.T, c *Container) {
	const path = "/etc/tcp-advisor/policies.d/50-broken.hcl"
	pid := show(t, c, "MainPID")
	rejected := len(events(t, c, systemd.EventPolicyRejected))
	loaded := len(events(t, c, systemd.EventPolicyLoaded))
	reloaded := len(events(t, c, systemd.EventReloaded))
	c.WriteFile(t, path, []byte(brokenPolicy), 0o644)
	t.Cleanup(func() { c.Try("rm", "-f", path) })

	out, err := c.Try("systemctl", "reload", unit)
	if err == nil {
		t.Fatalf("systemctl reload with a broken policy succeeded: %s", out)
	}
	t.Logf("systemctl reload: %v: %s", err, strings.TrimSpace(out))
	const at = path + ":3:3: "
	status, _ := c.Try("systemctl", "status", "--no-pager", "--lines", "20", unit) // exits 0 while active
	if !strings.Contains(status, at) {
		t.Errorf("systemctl status does not show %q:\n%s", at, status)
	}
	time.Sleep(time.Second)
	requireActive(t, c)
	if now := show(t, c, "MainPID"); now != pid {
		t.Errorf("MainPID %s -> %s: a broken policy restarted the agent", pid, now)
	}
	if n := len(events(t, c, systemd.EventReloaded)); n != reloaded {
		t.Errorf("the agent was signalled although the policies do not compile (%d -> %d reloaded entries)", reloaded, n)
	}

	// A SIGHUP that bypasses ExecReload: the agent checks again.
	c.Run(t, "systemctl", "kill", "--kill-who=main", "--signal=SIGHUP", unit)
	e := waitEvent(t, c, systemd.EventPolicyRejected, rejected, 20*time.Second, func(e journalEntry) bool {
		return strings.HasSuffix(e[systemd.FieldPolicyFile], "50-broken.hcl")
	})
	if e[systemd.FieldPolicyLine] != "3" {
		t.Errorf("policy_rejected %s = %q, want 3: %v", systemd.FieldPolicyLine, e[systemd.FieldPolicyLine], e)
	}
	if pr, _ := strconv.Atoi(e["PRIORITY"]); pr > 3 {
		t.Errorf("policy_rejected PRIORITY = %s, want err or worse", e["PRIORITY"])
	}
	// The reload itself failed: that is an error too, not information.
	r := waitEvent(t, c, systemd.EventReloaded, reloaded, 20*time.Second, nil)
	if r["PRIORITY"] != "3" || !strings.HasPrefix(r["MESSAGE"], "reload failed, previous policy stays in force") {
		t.Errorf("failed reload journalled at PRIORITY=%s: %q", r["PRIORITY"], r["MESSAGE"])
	}
	requireActive(t, c)
	if n := len(events(t, c, systemd.EventPolicyLoaded)); n != loaded {
		t.Errorf("a policy set was loaded from a broken directory (%d -> %d policy_loaded entries)", loaded, n)
	}

	// Fixed: the next reload loads again.
	c.Run(t, "rm", "-f", path)
	c.Run(t, "systemctl", "reload", unit)
	waitEvent(t, c, systemd.EventPolicyLoaded, loaded, 20*time.Second, nil)
	requireActive(t, c)
}

// readmeCommands returns the indented command lines of the installed
// policies.d README that start with one of prefixes.
func readmeCommands(readme string, prefixes ...string) []string {
	var out []string
	for _, line := range strings.Split(readme, "\n") {
		trimmed := strings.TrimSpace(line)
		for _, p := range prefixes {
			if strings.HasPrefix(line, " ") && strings.HasPrefix(trimmed, p) {
				out = append(out, trimmed)
			}
		}
	}
	return out
}

// testPolicyDirREADME follows the README installed in policies.d: two files
// declaring one rule validate (the later wins, on top of the defaults) with
// the command it gives, and the reload it gives loads them. Leaves
// policies.d empty.
func testPolicyDirREADME(t *testing.T, c *Container) {
	readme := c.Run(t, "cat", "/etc/tcp-advisor/policies.d/README")
	validate := readmeCommands(readme, "tcp-advisor validate")
	reload := readmeCommands(readme, "systemctl reload")
	if len(validate) != 1 || len(reload) != 1 {
		t.Fatalf("the README gives validate commands %q and reload commands %q, want one each:\n%s", validate, reload, readme)
	}
	dir := "/etc/tcp-advisor/policies.d/"
	c.WriteFile(t, dir+"10-base.hcl", []byte("rule \"site\" {\n  when    = true\n  message = \"base\"\n}\n"), 0o644)
	c.WriteFile(t, dir+"50-site.hcl", []byte("rule \"site\" {\n  when    = false\n  message = \"site\"\n}\n"), 0o644)
	t.Cleanup(func() { c.Try("rm", "-f", dir+"10-base.hcl", dir+"50-site.hcl") })
	out := c.Sh(t, validate[0])
	if !strings.Contains(out, dir+"50-site.hcl:1:1 (replaces "+dir+"10-base.hcl:1:1") || !strings.Contains(out, "port-exhaustion") {
		t.Errorf("%s: want site from 50-site.hcl replacing 10-base.hcl, on top of the defaults:\n%s", validate[0], out)
	}
	loaded := len(events(t, c, systemd.EventPolicyLoaded))
	c.Sh(t, reload[0])
	waitEvent(t, c, systemd.EventPolicyLoaded, loaded, 20*time.Second, nil)
	c.Run(t, "rm", "-f", dir+"10-base.hcl", dir+"50-site.hcl")
	c.Run(t, "systemctl", "reload", unit)
}

// testEnvFileEnforce follows the shipped tcp-advisor.env: uncomment its
// enforce line and restart, as its header says; the agent then runs in
// enforce mode. Leaves the line uncommented.
func testEnvFileEnforce(t *testing.T, c *Container) {
	const env = "/etc/tcp-advisor/tcp-advisor.env"
	const line = `TCP_ADVISOR_ARGS="--mode enforce"`
	c.Run(t, "sed", "-i", "s/^#"+line+"$/"+line+"/", env)
	if text := c.Run(t, "cat", env); !containsLine(text, line) {
		t.Fatalf("%s has no line %q to uncomment:\n%s", env, "#"+line, text)
	}
	started := len(events(t, c, systemd.EventAgentStarted))
	c.Run(t, "systemctl", "restart", unit)
	e := waitEvent(t, c, systemd.EventAgentStarted, started, 20*time.Second, nil)
	if e[systemd.FieldMode] != "enforce" {
		t.Errorf("after uncommenting the enforce line, the agent started in %s mode: %s", e[systemd.FieldMode], e["MESSAGE"])
	}
	if status := show(t, c, "StatusText"); !strings.Contains(status, "enforce") {
		t.Errorf("StatusText %q does not say enforce", status)
	}
}

// testEnforce: under per-destination port exhaustion in enforce mode the
// agent widens the container's ip_local_port_range (its own network
// namespace: the host's is never touched) and says so in the journal.
// Leaves the agent running in enforce mode, tcp_timestamps off (the
// exhaustion tests after it want the range too), and the CLOSE_WAIT leaker
// of testCloseWaitLeak running.
func testEnforce(t *testing.T, c *Container) {
	const key = "net.ipv4.ip_local_port_range"
	c.Run(t, "sysctl", "-q", "-w", key+"=40000 40199") // 200 ports, different parity
	c.Sh(t, `sed -i 's/^TCP_ADVISOR_ARGS=.*/TCP_ADVISOR_ARGS="--mode enforce --detail-interval 3s"/' /etc/tcp-advisor/tcp-advisor.env`)
	startLeaker(t, c)
	c.Run(t, "systemctl", "restart", unit)
	requireActive(t, c)
	applied := len(events(t, c, systemd.EventChangeApplied))

	// A client dials 127.0.0.1:9000 at 10 connections/s and closes
	// first: each closed connection holds its port 60 s (tcp_tw_reuse 0),
	// so the destination levels off at 600 ports, three times the 200 of
	// the range. Once the host-wide pre-check (sockets holding ports at
	// half the usable ports) lets the agent dump the table, it measures the
	// close rate from the TIME_WAIT ages and widens the range. Timestamps
	// are off, so tcp_tw_reuse = 1, the smaller change, cannot free the
	// ports and the range is what helps.
	c.Run(t, "sysctl", "-q", "-w", "net.ipv4.tcp_tw_reuse=0")
	c.Run(t, "sysctl", "-q", "-w", "net.ipv4.tcp_timestamps=0")
	c.Run(t, "systemd-run", "--unit=tcpadv-dial", "/usr/local/bin/tcpload", "dial", "-addr", "127.0.0.1:9000", "-rate", "10", "-duration", "60s", "-serve")
	defer c.Try("systemctl", "stop", "tcpadv-dial")
	e := waitEvent(t, c, systemd.EventChangeApplied, applied, 55*time.Second, func(e journalEntry) bool {
		return e[systemd.FieldKey] == key
	})
	t.Logf("change applied: %s", e["MESSAGE"])
	for _, f := range []string{systemd.FieldOldValue, systemd.FieldNewValue, systemd.FieldRule} {
		if e[f] == "" {
			t.Errorf("change_applied entry lacks %s: %v", f, e)
		}
	}
	low, high := portRange(t, c.Run(t, "sysctl", "-n", key))
	if high-low+1 <= 200 {
		t.Errorf("%s = %d %d after the change, not wider than 200 ports", key, low, high)
	}
	// The state directory and file have the modes README.md states.
	readme, err := os.ReadFile(filepath.Join(testbin.RepoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`mode 0([0-7]{3}) in a 0([0-7]{3}) directory`).FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md states no mode for the state file and directory")
	}
	if got := strings.TrimSpace(c.Run(t, "stat", "-c", "%a", "/var/lib/tcp-advisor/state.json", "/var/lib/tcp-advisor")); got != string(m[1])+"\n"+string(m[2]) {
		t.Errorf("state file and directory modes %q, README.md says %s in %s", got, m[1], m[2])
	}
	// journalctl field matches work on the agent's own fields.
	if len(journal(t, c, systemd.FieldKey+"="+key, "MESSAGE_ID="+systemd.EventChangeApplied.MessageID())) == 0 {
		t.Errorf("journalctl -u %s %s=%s finds nothing", unit, systemd.FieldKey, key)
	}
	requireActive(t, c)
}

const (
	leakerUnit = "tcpadv-leaker.service"
	leaks      = 30
)

// startLeaker runs, as another user and in a unit of its own, a server
// that never closes what its peers closed: leaks sockets stuck in
// CLOSE_WAIT. The agent sees them in the dump of its first tick and again
// in the next full dump, and must name the process, its unit and its
// command: owner lookup across users, under the unit's sandbox.
func startLeaker(t *testing.T, c *Container) {
	t.Helper()
	c.Run(t, "systemd-run", "--unit="+leakerUnit, "-p", "User=nobody",
		"/usr/local/bin/tcpload", "closewait", "-addr", "127.0.0.1:9100", "-n", strconv.Itoa(leaks))
	deadline := time.Now().Add(20 * time.Second)
	for {
		out := c.Run(t, "ss", "-Htn", "state", "close-wait", "sport", "= :9100")
		if n := len(strings.Fields(out)) / 4; n >= leaks {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("leaker did not reach %d CLOSE_WAIT sockets:\n%s", leaks, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// testCloseWaitLeak: the leak is reported with the owner's PID, unit and
// command, and journald files it under the leaking unit too (OBJECT_PID).
func testCloseWaitLeak(t *testing.T, c *Container) {
	defer c.Try("systemctl", "stop", leakerUnit)
	pid := strings.TrimSpace(c.Run(t, "systemctl", "show", "-p", "MainPID", "--value", leakerUnit))
	e := waitEvent(t, c, systemd.EventCloseWaitLeak, 0, 90*time.Second, nil)
	t.Logf("leak: %s", e["MESSAGE"])
	want := map[string]string{systemd.FieldPID: pid, systemd.FieldUnit: leakerUnit, systemd.FieldCommand: "tcpload"}
	for k, v := range want {
		if e[k] != v {
			t.Errorf("close_wait_leak %s = %q, want %q", k, e[k], v)
		}
	}
	out := c.Run(t, "journalctl", "--no-pager", "-b", "-o", "json", "-u", leakerUnit, "MESSAGE_ID="+systemd.EventCloseWaitLeak.MessageID())
	if strings.TrimSpace(out) == "" {
		t.Errorf("journalctl -u %s does not show the agent's leak report (OBJECT_PID)", leakerUnit)
	}
}

// testAllNamespacesWorstFirst: a container (its own network and UTS
// namespaces, its hostname lb-blue, as an unregistered nspawn container or
// `unshare` makes one) runs out of ports; `diagnose --all-namespaces` lists
// it first and by that name, ahead of a named namespace with TIME_WAIT
// sockets that discovery lists before it; --netns finds it by name.
func testAllNamespacesWorstFirst(t *testing.T, c *Container) {
	// Named namespaces come before unnamed ones in discovery order: one
	// with TIME_WAIT sockets (something to say, nothing wrong) would open
	// the list.
	c.Run(t, "ip", "netns", "add", "aaa-busy")
	t.Cleanup(func() { c.Try("ip", "netns", "del", "aaa-busy") })
	c.Run(t, "ip", "netns", "exec", "aaa-busy", "sh", "-c", "ip link set lo up && /usr/local/bin/tcpload timewait -addr 127.0.0.1:9000 -n 5")
	c.Run(t, "systemd-run", "--unit=tcpadv-lb-blue", "unshare", "--net", "--uts", "--", "sh", "-c",
		`hostname lb-blue && ip link set lo up && sysctl -qw net.ipv4.ip_local_port_range="40000 40099" net.ipv4.tcp_tw_reuse=0 && `+
			`/usr/local/bin/tcpload timewait -addr 127.0.0.1:9000 -n 95 && echo ready && exec sleep 600`)
	t.Cleanup(func() { c.Try("systemctl", "stop", "tcpadv-lb-blue") })
	deadline := time.Now().Add(30 * time.Second)
	// A line of its own: systemd's "Started" line quotes the command.
	for !containsLine(c.Run(t, "journalctl", "-u", "tcpadv-lb-blue", "-o", "cat", "--no-pager"), "ready") {
		if time.Now().After(deadline) {
			t.Fatalf("the lb-blue container did not make its TIME_WAIT sockets:\n%s", c.Run(t, "journalctl", "-u", "tcpadv-lb-blue", "--no-pager"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	text := c.Run(t, "tcp-advisor", "diagnose", "--all-namespaces")
	first, _, _ := strings.Cut(text, "\n")
	if !strings.HasPrefix(first, "=== network namespace lb-blue (net:[") {
		t.Errorf("diagnose --all-namespaces does not open with lb-blue:\n%s", text)
	}
	if busy := strings.Index(text, "=== network namespace aaa-busy "); busy < 0 || busy < strings.Index(text, "lb-blue") {
		t.Errorf("the section of aaa-busy does not follow lb-blue's:\n%s", text)
	}
	var out struct {
		Namespaces []struct {
			Netns struct {
				Hostname string `json:"hostname"`
				Name     string `json:"name"`
				Host     bool   `json:"host"`
			} `json:"netns"`
			Diagnosis struct {
				Level string `json:"level"`
			} `json:"diagnosis"`
		} `json:"namespaces"`
	}
	if err := json.Unmarshal([]byte(c.Run(t, "tcp-advisor", "diagnose", "--all-namespaces", "--format", "json")), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Namespaces) < 3 || out.Namespaces[0].Netns.Hostname != "lb-blue" || out.Namespaces[0].Diagnosis.Level != "critical" {
		t.Errorf("diagnose --all-namespaces --format json: want lb-blue (critical) first: %+v", out.Namespaces)
	}
	if got := c.Run(t, "tcp-advisor", "diagnose", "--netns", "lb-blue"); !strings.Contains(got, "CRIT") {
		t.Errorf("diagnose --netns lb-blue is not critical:\n%s", got)
	}
	t.Logf("diagnose --all-namespaces opens with: %s", first)
}

func portRange(t *testing.T, s string) (int, int) {
	t.Helper()
	f := strings.Fields(s)
	if len(f) != 2 {
		t.Fatalf("port range %q", s)
	}
	low, err1 := strconv.Atoi(f[0])
	high, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil {
		t.Fatalf("port range %q", s)
	}
	return low, high
}

// testStop: SIGTERM ends the agent with exit status 0 and a last entry.
func testStop(t *testing.T, c *Container) {
	stopped := len(events(t, c, systemd.EventAgentStopped))
	c.Run(t, "systemctl", "stop", unit)
	if state := show(t, c, "ActiveState"); state != "inactive" {
		t.Errorf("ActiveState after stop = %q", state)
	}
	if r := show(t, c, "Result"); r != "success" {
		t.Errorf("Result = %q, want success", r)
	}
	// ExecMainCode 1 is CLD_EXITED: the agent exited, it was not killed.
	if code, status := show(t, c, "ExecMainCode"), show(t, c, "ExecMainStatus"); code != "1" || status != "0" {
		t.Errorf("ExecMainCode=%s ExecMainStatus=%s, want a clean exit (1, 0)", code, status)
	}
	waitEvent(t, c, systemd.EventAgentStopped, stopped, 5*time.Second, nil)
}

// testUpgrade: the new version installs over the old, keeps the changed
// conffile and the state directory and restarts a running agent; a reinstall leaves a stopped agent
// stopped. Leaves the agent stopped.
// testRollback: after the stop, which left the widened range alone,
// `tcp-advisor rollback` restores the original and journals each key with
// the change_rolled_back MESSAGE_ID (the command runs outside the unit, so
// the match is by MESSAGE_ID alone).
func testRollback(t *testing.T, c *Container) {
	const key = "net.ipv4.ip_local_port_range"
	if low, high := portRange(t, c.Run(t, "sysctl", "-n", key)); high-low+1 <= 200 {
		t.Fatalf("%s = %d %d: the stop should have left the widened range", key, low, high)
	}
	c.Run(t, "tcp-advisor", "rollback", "--yes")
	if got := strings.Join(strings.Fields(c.Run(t, "sysctl", "-n", key)), " "); got != "40000 40199" {
		t.Errorf("after rollback %s = %q, want \"40000 40199\"", key, got)
	}
	out := c.Run(t, "journalctl", "--no-pager", "-b", "-o", "json", "MESSAGE_ID="+systemd.EventChangeRolledBack.MessageID(), systemd.FieldKey+"="+key)
	if !strings.Contains(out, `"NEW_VALUE":"40000 40199"`) {
		t.Errorf("no change_rolled_back entry for %s with NEW_VALUE=40000 40199:\n%s", key, out)
	}
}

// restoreUnitAfter has the test's cleanup put the env file back as it is
// now, remove the unit's drop-ins and then `systemctl verb` the unit.
func restoreUnitAfter(t *testing.T, c *Container, verb string) {
	t.Helper()
	saved := c.Run(t, "cat", envFile)
	t.Cleanup(func() {
		c.WriteFile(t, envFile, []byte(saved), 0o644)
		c.Try("rm", "-rf", "/etc/systemd/system/"+unit+".d")
		c.Try("systemctl", "daemon-reload")
		c.Try("systemctl", "reset-failed", unit)
		c.Try("systemctl", verb, unit)
	})
}

// followDropInHeader follows the "To use it:" steps in the header of the
// installed drop-in conf: it runs the commands (mkdir, cp, the restart)
// and uncomments in the env file the TCP_ADVISOR_ARGS line it asks for,
// which must be line.
func followDropInHeader(t *testing.T, c *Container, conf, line string) {
	t.Helper()
	text := c.Run(t, "cat", conf)
	_, steps, ok := strings.Cut(text, "To use it:\n")
	if !ok {
		t.Fatalf("%s's header has no \"To use it:\" steps:\n%s", conf, text)
	}
	ran := 0
	for _, l := range strings.Split(steps, "\n") {
		cmd, ok := strings.CutPrefix(l, "#   ")
		if !ok && (l != "#" || ran > 0) {
			break // the steps end with a blank comment line or prose
		}
		switch {
		case strings.TrimSpace(cmd) == "":
		case strings.HasPrefix(cmd, "#   TCP_ADVISOR_ARGS="):
			// "in /etc/tcp-advisor/tcp-advisor.env:" that line: the env
			// file has it as an example to uncomment.
			if want := strings.TrimPrefix(cmd, "#   "); want != line {
				t.Fatalf("%s asks for %s, the test expects %s", conf, want, line)
			}
			c.Run(t, "sed", "-i", "s/^#"+line+"$/"+line+"/", envFile)
			if !containsLine(c.Run(t, "cat", envFile), line) {
				t.Fatalf("%s has no line #%s to uncomment", envFile, line)
			}
		case strings.HasPrefix(cmd, "#"):
		default:
			c.Sh(t, cmd)
			ran++
		}
	}
	if ran != 3 {
		t.Fatalf("ran %d commands of %s's header, want mkdir, cp and the restart:\n%s", ran, conf, steps)
	}
}

// scrape fetches url inside the container as a scraper would, with a
// scraper's timeout. A scrape that times out is tried once more, after
// what the container's sockets and the agent's journal say is logged:
// the test then fails only if the agent does not answer at all.
func scrape(t *testing.T, c *Container, url string) string {
	t.Helper()
	body, err := c.Try("curl", "-sS", "-f", "--max-time", "15", url)
	if err == nil {
		return body
	}
	t.Logf("scrape of %s: %v\n%s", url, err, body)
	for _, diag := range [][]string{
		{"ss", "-tanpe"},
		{"systemctl", "status", "--no-pager", unit},
		{"journalctl", "--no-pager", "-n", "30", "-u", unit},
	} {
		out, _ := c.Try(diag...)
		t.Logf("%s:\n%s", strings.Join(diag, " "), out)
	}
	return c.Run(t, "curl", "-sS", "-f", "--max-time", "30", url)
}

// testMetricsFirstScrape follows the header of the packaged drop-in
// metrics-listen.conf and the env file's endpoint line, then scrapes the
// restarted agent once: the first scrape carries every family the packaged
// dashboard queries. Leaves the agent stopped, without the drop-in, and the
// env file as it was.
func testMetricsFirstScrape(t *testing.T, c *Container) {
	const line = `TCP_ADVISOR_ARGS="--metrics-listen 127.0.0.1:9815"`
	restoreUnitAfter(t, c, "stop")
	followDropInHeader(t, c, "/usr/share/tcp-advisor/metrics-listen.conf", line)
	requireActive(t, c)
	body := scrape(t, c, "http://127.0.0.1:9815/metrics")
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("the first scrape: %v\n%s", err, body)
	}
	families, err := dashboard.Families(filepath.Join(testbin.RepoRoot(t), "packaging", "grafana", "tcp-advisor.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if mf := mfs[f]; mf == nil || len(mf.GetMetric()) == 0 {
			t.Errorf("the first scrape of the agent has no %s, which the dashboard queries", f)
		}
	}
	bi := mfs["tcp_advisor_build_info"]
	if bi == nil || len(bi.GetMetric()) != 1 || !strings.Contains(bi.GetMetric()[0].String(), `value:"`+oldVersion+`"`) {
		t.Errorf("tcp_advisor_build_info does not carry version %s: %v", oldVersion, bi)
	}
	t.Logf("first scrape: %d families, every one of the %d the dashboard queries", len(mfs), len(families))
}

func testUpgrade(t *testing.T, c *Container) {
	const marker = "# changed by the system test"
	c.Sh(t, "echo '"+marker+"' >> /etc/tcp-advisor/tcp-advisor.env")
	c.Run(t, "systemctl", "start", unit)
	pid := show(t, c, "MainPID")
	restarts := show(t, c, "NRestarts")
	state := c.Sh(t, "ls /var/lib/tcp-advisor && cat /var/lib/tcp-advisor/state.json.gone-*")
	c.Run(t, "dpkg", "-i", "--force-confold", "/var/tmp/tcp-advisor_"+newVersion+".deb")
	if after := c.Sh(t, "ls /var/lib/tcp-advisor && cat /var/lib/tcp-advisor/state.json.gone-*"); after != state {
		t.Errorf("the upgrade changed the state directory:\n%s\nwas:\n%s", after, state)
	}
	if v := c.Run(t, "dpkg-query", "-W", "-f=${Version}", "tcp-advisor"); v != newVersion+"-1" {
		t.Errorf("version after upgrade = %q", v)
	}
	if env := c.Run(t, "cat", "/etc/tcp-advisor/tcp-advisor.env"); !strings.Contains(env, marker) {
		t.Errorf("upgrade replaced the changed tcp-advisor.env:\n%s", env)
	}
	if state := settledState(t, c); state != "active" {
		t.Errorf("ActiveState after upgrade = %q, want active", state)
	}
	if now := show(t, c, "NRestarts"); now != restarts {
		t.Errorf("NRestarts %s -> %s: the agent failed and systemd restarted it after the upgrade", restarts, now)
	}
	if now := show(t, c, "MainPID"); now == pid {
		t.Errorf("MainPID unchanged (%s): the running agent was not restarted on the new binary", pid)
	}

	c.Run(t, "systemctl", "stop", unit)
	c.Run(t, "dpkg", "-i", "--force-confold", "/var/tmp/tcp-advisor_"+newVersion+".deb")
	if state := show(t, c, "ActiveState"); state != "inactive" {
		t.Errorf("reinstall started a stopped service: ActiveState = %q", state)
	}
}

// testRemove: remove stops and disables the service and drops its unit and
// catalog, keeping configuration, and says at the prompt which sysctls keep
// tcp-advisor's values and how to restore them. Purge deletes the
// configuration but keeps the state while a key still differs from its
// original, and says so; `sysctl -p` on the file removal left restores
// them. A purge with nothing changed deletes the state.
func testRemove(t *testing.T, c *Container) {
	widened := applyUnderPressure(t, c)
	out := c.Run(t, "dpkg", "-r", "tcp-advisor")
	for _, want := range []string{
		"tcp-advisor: these sysctls keep the values tcp-advisor set; their originals are in " + restoreFile,
		"  " + rangeKey + ` (original "` + rangeStart + `")`,
		"sysctl -p " + restoreFile,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dpkg -r does not say %q:\n%s", want, out)
		}
	}
	if out, _ := c.Try("systemctl", "is-active", unit); strings.TrimSpace(out) == "active" {
		t.Errorf("service still active after dpkg -r")
	}
	if _, err := c.Try("test", "-e", "/usr/lib/systemd/system/"+unit); err == nil {
		t.Errorf("unit file still there after dpkg -r")
	}
	if out, _ := c.Try("sh", "-c", "ls /etc/systemd/system/*.wants/ | grep -c tcp-advisor"); strings.TrimSpace(out) != "0" {
		t.Errorf("enablement links left after dpkg -r")
	}
	catalog := c.Run(t, "journalctl", "--list-catalog", "--no-pager")
	if strings.Contains(catalog, systemd.EventAgentStarted.MessageID()) {
		t.Errorf("catalog entries still listed after dpkg -r")
	}
	c.Run(t, "test", "-f", "/etc/tcp-advisor/tcp-advisor.env")

	out = c.Run(t, "dpkg", "-P", "tcp-advisor")
	if !strings.Contains(out, "tcp-advisor: kept /var/lib/tcp-advisor: it holds the only record of the original values of "+rangeKey) {
		t.Errorf("purge with %s still %s does not say it keeps the state:\n%s", rangeKey, widened, out)
	}
	if _, err := c.Try("test", "-e", "/etc/tcp-advisor/tcp-advisor.env"); err == nil {
		t.Errorf("tcp-advisor.env still there after purge")
	}
	c.Run(t, "test", "-f", stateFile)
	c.Run(t, "sysctl", "-q", "-p", restoreFile)
	if r := liveRange(t, c); r != rangeStart {
		t.Errorf("sysctl -p %s: %s = %s, want the original %s", restoreFile, rangeKey, r, rangeStart)
	}

	// Nothing differs from its original any more: purge deletes the state.
	c.Run(t, "dpkg", "-i", "/var/tmp/tcp-advisor_"+newVersion+".deb")
	c.Run(t, "dpkg", "-P", "tcp-advisor")
	if _, err := c.Try("test", "-e", "/var/lib/tcp-advisor"); err == nil {
		t.Errorf("/var/lib/tcp-advisor still there after a purge with nothing changed")
	}
}

func containsLine(text, line string) bool {
	for _, l := range strings.Split(text, "\n") {
		if l == line {
			return true
		}
	}
	return false
}
