package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tcp-advisor/tcp-advisor/internal/netnstest"
)

// RecordScenariosEnv names the directory the scenario tests write their
// recordings into when set: `make policy-recordings` points it at
// policies/testdata/recordings, the recordings the default policies' tests
// (policies/default.hcltest) replay.
const RecordScenariosEnv = "TCP_ADVISOR_RECORD_SCENARIOS"

// recordScenario records the scenario running in ns as name.json.gz when
// RecordScenariosEnv asks for it: as the agent observes, every second, a
// detail dump each time.
func recordScenario(t *testing.T, ns *netnstest.NS, bin, name string, d time.Duration) {
	t.Helper()
	dir := os.Getenv(RecordScenariosEnv)
	if dir == "" {
		return
	}
	out := filepath.Join(dir, name+".json.gz")
	ns.MustRun(t, bin, "record", "--for", d.String(), "--interval", "1s", "--detail-interval", "1s", "--output", out)
	t.Logf("recorded the scenario to %s", out)
}

// keepScenario copies a recording a test made into RecordScenariosEnv's
// directory as name.json.gz, when set.
func keepScenario(t *testing.T, recording, name string) {
	t.Helper()
	dir := os.Getenv(RecordScenariosEnv)
	if dir == "" {
		return
	}
	data, err := os.ReadFile(recording)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".json.gz"), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// leakerAt is a Python service on addr that accepts connections and never
// closes them: its peers' sockets wait in FIN_WAIT2.
func leakerAt(addr string) string {
	host, port, _ := strings.Cut(addr, ":")
	return strings.Replace(strings.Replace(leaker, `"127.0.0.1"`, `"`+host+`"`, 1), "8000)", port+")", 1)
}

// TestKernelFinWait2TowardsAPeerThatNeverCloses: a client closes its
// connections to a backend that never closes them, over a veth link. Each
// of its sockets waits, orphaned, in FIN_WAIT2 for tcp_fin_timeout and
// holds its local port meanwhile: 800 of the 1000 ports of the range. The
// diagnosis counts them as FIN_WAIT2 orphans, not as open connections.
func TestKernelFinWait2TowardsAPeerThatNeverCloses(t *testing.T) {
	advisorBin, loadBin := binaries(t)
	netnstest.RequireTools(t, "python3")
	python, _ := exec.LookPath("python3")
	client, backend := exhaustionNS(t), netnstest.New(t)
	netnstest.Link(t, client, backend, "10.99.1.1/24", "10.99.1.2/24")
	backend.Start(t, "ready", python, "-c", leakerAt("10.99.1.2:8000"))
	client.MustRun(t, loadBin, "dial", "-addr", "10.99.1.2:8000", "-rate", "100", "-duration", "8s")

	var d struct {
		States   map[string]int `json:"states"`
		FinWait2 struct {
			Count    int `json:"count"`
			Orphaned int `json:"orphaned"`
		} `json:"fin_wait2"`
	}
	out := client.MustRun(t, advisorBin, "diagnose", "--format", "json")
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatal(err)
	}
	if d.FinWait2.Orphaned < 700 || d.States["ESTABLISHED"] > 10 {
		t.Errorf("FIN_WAIT2 %+v, states %v: want some 800 orphans and no open connection", d.FinWait2, d.States)
	}
	t.Logf("FIN_WAIT2 towards a peer that never closes: %+v", d.FinWait2)
	recordScenario(t, client, advisorBin, "fin-wait2-peer-never-closes", 3*time.Second)
}

// nobodyDir returns a directory of its own that nobody (uid 65534) can
// read, removed when the test ends.
func nobodyDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "tcp-advisor-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestKernelRecordThenReplay: record observes a namespace as the agent
// does and writes a redacted recording; diagnose and plan judge it
// elsewhere as nobody, at its end or at a moment inside it, and refuse a
// moment past it or a flag that would observe this host.
func TestKernelRecordThenReplay(t *testing.T) {
	advisorBin, loadBin := binaries(t)
	ns := exhaustionNS(t)
	ns.MustRun(t, loadBin, "timewait", "-addr", "127.0.0.1:9000", "-n", "950")
	recording := filepath.Join(nobodyDir(t), "incident.json.gz")
	out := ns.MustRun(t, advisorBin, "record", "--for", "2s", "--interval", "1s", "--detail-interval", "1s", "--redact", "--output", recording)
	if !strings.Contains(out, "recorded 3 frames of 1 namespace(s)") {
		t.Errorf("record: %q", out)
	}
	elsewhere := netnstest.New(t)
	bin := nobodyBinary(t, advisorBin)
	asNobody := func(args ...string) (string, string, int) {
		return runExit(t, elsewhere, "setpriv", append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", bin}, args...)...)
	}
	var d judgedJSON
	stdout, stderr, code := asNobody("diagnose", "--format", "json", "--replay", recording)
	if err := json.Unmarshal([]byte(stdout), &d); err != nil || code != 0 {
		t.Fatalf("diagnose --replay: exit %d: %v\n%s%s", code, err, stdout, stderr)
	}
	if w := d.Worst; d.Level != "critical" || w == nil || w.Remote != "127.0.0.1:9000" || w.PortsInUse < 950 {
		t.Errorf("replayed diagnosis: level %s, worst %+v", d.Level, w)
	}
	if _, stderr, code := asNobody("plan", "--replay", recording, "--at", "1s", "--detailed-exitcode"); code != 2 {
		t.Errorf("plan --replay --at 1s: exit %d\n%s", code, stderr)
	}
	if _, stderr, code := asNobody("plan", "--replay", recording, "--at", "10s"); code != 1 || !strings.Contains(stderr, "past the recording's end") {
		t.Errorf("--at past the end: exit %d\n%s", code, stderr)
	}
	if _, stderr, code := asNobody("plan", "--replay", recording, "--samples", "3"); code != 2 || !strings.Contains(stderr, "--samples observes this host") {
		t.Errorf("--samples with --replay: exit %d\n%s", code, stderr)
	}
}

var (
	recommendationRE = regexp.MustCompile(`recommendation: dry-run: would set (\S+) from "[^"]*" to "([^"]*)"`)
	recordingRE      = regexp.MustCompile(` RECORDING=(\S+)`)
)

// replayAgentRecording replays, in ns as nobody, the flight recording the
// agent's log names on its first critical recommendations, and requires
// the plan the agent announced then: each key to the same value.
func replayAgentRecording(t *testing.T, agentLog string, ns *netnstest.NS, bin string) {
	t.Helper()
	var path string
	announced := map[string]string{}
	for _, line := range strings.Split(agentLog, "\n") {
		m := recommendationRE.FindStringSubmatch(line)
		r := recordingRE.FindStringSubmatch(line)
		if m == nil || r == nil || (path != "" && r[1] != path) {
			continue
		}
		path = r[1]
		announced[m[1]] = m[2]
	}
	if path == "" {
		t.Fatalf("no recommendation names a flight recording:\n%s", agentLog)
	}
	// The agent's state directory is root's: the file goes elsewhere, as
	// to another machine.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	copied := filepath.Join(nobodyDir(t), filepath.Base(path))
	if err := os.WriteFile(copied, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := runExit(t, ns, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", bin, "plan", "--format", "json", "--replay", copied)
	var p planJSON
	if err := json.Unmarshal([]byte(out), &p); err != nil || code != 0 {
		t.Fatalf("plan --replay %s: exit %d: %v\n%s%s", path, code, err, out, stderr)
	}
	replayed := map[string]string{}
	for _, c := range p.Changes {
		replayed[c.Key] = c.To
	}
	// The entries of that tick announce what turned critical then; the
	// replay plans each of them with the same value.
	for k, v := range announced {
		if replayed[k] != v {
			t.Errorf("the agent announced %v with %s; its replay plans %v", announced, path, replayed)
			break
		}
	}
	if p.Level != "critical" {
		t.Errorf("replayed plan level %s, want the critical one that wrote the recording", p.Level)
	}
	t.Logf("the agent's flight recording %s replays to its plan %v", filepath.Base(path), replayed)
}
