package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tcp-advisor/tcp-advisor/advisor/observe/connevents"
	"github.com/tcp-advisor/tcp-advisor/internal/netnstest"
)

// TestKernelVerdictFirst: on an exhausted destination the first line of
// diagnose names the worst problem, and diagnose --check is a monitoring
// plugin that says CRITICAL in one line with performance data and exits 2;
// on an idle namespace it says OK and exits 0.
func TestKernelVerdictFirst(t *testing.T) {
	advisorBin, loadBin := binaries(t)
	idle := netnstest.New(t)
	out, _, code := runExit(t, idle, advisorBin, "diagnose", "--check")
	if code != 0 || !strings.HasPrefix(out, "TCP-ADVISOR OK - ") || strings.Count(out, "\n") != 1 || !strings.Contains(out, " | ") {
		t.Errorf("idle: exit %d: %q", code, out)
	}

	ns := exhaustionNS(t)
	ns.MustRun(t, loadBin, "timewait", "-addr", "127.0.0.1:9000", "-n", "950")
	text := ns.MustRun(t, advisorBin, "diagnose")
	first, _, _ := strings.Cut(text, "\n")
	if !strings.HasPrefix(first, "CRITICAL: ") || !strings.Contains(first, "127.0.0.1:9000") || !strings.Contains(first, "port-exhaustion") {
		t.Errorf("first line does not name the worst problem: %q", first)
	}
	out, _, code = runExit(t, ns, advisorBin, "diagnose", "--check")
	if code != 2 || !strings.HasPrefix(out, "TCP-ADVISOR CRITICAL - ") || strings.Count(out, "\n") != 1 || !strings.Contains(out, "'worst_utilization'=") {
		t.Errorf("exhausted: exit %d: %q", code, out)
	}
	// A check that cannot judge is UNKNOWN, never OK.
	bad := filepath.Join(t.TempDir(), "bad.hcl")
	if err := os.WriteFile(bad, []byte("rule {"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, _, code := runExit(t, ns, advisorBin, "diagnose", "--check", "--policy", bad); code != 3 || !strings.HasPrefix(out, "TCP-ADVISOR UNKNOWN - ") {
		t.Errorf("broken policy: exit %d: %q", code, out)
	}
}

// waitListening waits until addr accepts connections inside ns.
func waitListening(t *testing.T, ns *netnstest.NS, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if out, _ := ns.Command(context.Background(), "ss", "-Htln", "src", addr).Output(); strings.TrimSpace(string(out)) != "" {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s", addr)
}

// TestKernelNginxWithoutKeepalive: nginx, in a cgroup named like a
// systemd service, proxies to a backend without upstream keepalive, so it
// opens one connection per request and, closing each first, keeps the
// TIME_WAIT: under 200 requests/s the backend's 1000 ports run out. The
// plan is the smallest change that works, tcp_tw_reuse = 1 alone, no wider
// range; from the kernel's connection events it names nginx, its unit, the
// connections it opens per second and its failing connect() calls, and the
// keepalive fix; with the events program refused (CAP_BPF, CAP_PERFMON and
// CAP_SYS_ADMIN dropped) it still names nginx from its sockets, and its
// recording replays to the same plan; the agent's flight recording replays
// to what it announced; applied, the plan ends the 502s.
func TestKernelNginxWithoutKeepalive(t *testing.T) {
	advisorBin, loadBin := binaries(t)
	netnstest.RequireTools(t, "nginx")
	nginx, _ := exec.LookPath("nginx")
	ns := exhaustionNS(t)
	ns.SetSysctl(t, "net.ipv4.tcp_timestamps", "1")
	dir := t.TempDir()
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(`worker_processes 1;
user root;
pid `+dir+`/nginx.pid;
error_log `+dir+`/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path `+dir+`/body;
  proxy_temp_path `+dir+`/proxy;
  fastcgi_temp_path `+dir+`/fastcgi;
  uwsgi_temp_path `+dir+`/uwsgi;
  scgi_temp_path `+dir+`/scgi;
  upstream backend {
    server 127.0.0.1:9000;
  }
  server {
    listen 127.0.0.1:8080;
    location / {
      proxy_pass http://backend;
    }
  }
}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	ns.Start(t, "ready", loadBin, "http", "-addr", "127.0.0.1:9000", "-delay", "300ms")
	// nginx runs in a cgroup of its own, as under systemd.
	unit := "nginx-" + ns.Name + ".service"
	cgroup := filepath.Join(connevents.CgroupRoot(), "tcp-advisor-test.slice", unit)
	if err := os.MkdirAll(cgroup, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(cgroup); os.Remove(filepath.Dir(cgroup)) })
	// ip netns exec mounts a sysfs of its own, without the cgroup tree:
	// the test moves the shell into the cgroup, then lets it exec nginx.
	srv := ns.Command(context.Background(), "sh", "-c", `read go && exec "$1" -p "$2" -c "$3" -g "daemon off;"`, "sh", nginx, dir, conf)
	start, err := srv.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	srv.Stderr = os.Stderr
	// Its own process group, so the workers go with the master.
	srv.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-srv.Process.Pid, syscall.SIGKILL)
		srv.Wait()
	})
	if err := os.WriteFile(filepath.Join(cgroup, "cgroup.procs"), []byte(strconv.Itoa(srv.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := start.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	waitListening(t, ns, "127.0.0.1:8080")

	// The agent watches, dry-run, with its flight recorder, from before
	// the load starts.
	agentState := nobodyDir(t)
	agent := startAgent(t, ns, advisorBin, "--mode", "dry-run", "--interval", "1s", "--detail-interval", "1s", "--state-dir", agentState)
	load := ns.Command(context.Background(), loadBin, "http-load", "-addr", "127.0.0.1:8080", "-rate", "200", "-conns", "80", "-duration", "12s")
	var loadOut strings.Builder
	load.Stdout = &loadOut
	if err := load.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { load.Process.Kill(); load.Wait() })
	began := time.Now()
	// While the ports last (about 5 s at 200 connections/s into 1000
	// ports, with reuse off), the connections nginx has open name it: the
	// plan starts at once so that its whole window lies before the range
	// fills, however slowly a loaded machine starts it. This plan runs
	// with the events program refused (CAP_BPF, CAP_PERFMON and
	// CAP_SYS_ADMIN dropped): it names nginx from its sockets, and its
	// recording replays to the same plan.
	recording := filepath.Join(nobodyDir(t), "nginx-lb.json.gz")
	name, args := withoutBPF(advisorBin, "plan", "--format", "json", "--detailed-exitcode", "--samples", "4", "--interval", "1s", "--state-dir", t.TempDir(), "--record", recording)
	out, stderr, code := runExit(t, ns, name, args...)
	var p planJSON
	if err := json.Unmarshal([]byte(out), &p); err != nil || code != 2 {
		t.Fatalf("plan: exit %d: %v\n%s%s", code, err, out, stderr)
	}
	// The recording replays to the same plan elsewhere: in a fresh
	// namespace with nothing in it, as nobody.
	elsewhere := netnstest.New(t)
	replayed, stderr, code := runExit(t, elsewhere, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
		nobodyBinary(t, advisorBin), "plan", "--format", "json", "--detailed-exitcode", "--replay", recording)
	if code != 2 || replayed != out {
		t.Errorf("replayed plan (exit %d) differs from the live one:\n%s\nlive:\n%s%s", code, replayed, out, stderr)
	}
	keepScenario(t, recording, "nginx-lb")
	// The plan's change is reuse alone; the churn behind it is the
	// connection-churn advice's to name.
	wantReuseAlone(t, p)
	reason := churnAdvice(p)
	for _, want := range []string{"opened by nginx", "keepalive 32;", "proxy_http_version 1.1;", `proxy_set_header Connection "";`} {
		if !strings.Contains(reason, want) {
			t.Errorf("without the events, the plan's churn advice lacks %q:\n%s", want, reason)
		}
	}

	// With the events, once the destination is full (1000 ports at about
	// 190 connections/s): its connect() calls fail and leave nothing open
	// to see, and the events still name nginx, its unit and its rates.
	time.Sleep(time.Until(began.Add(6 * time.Second)))
	out, stderr, code = runExit(t, ns, advisorBin, "plan", "--format", "json", "--detailed-exitcode", "--samples", "4", "--interval", "1s", "--state-dir", t.TempDir())
	p = planJSON{}
	if err := json.Unmarshal([]byte(out), &p); err != nil || code != 2 {
		t.Fatalf("plan: exit %d: %v\n%s%s", code, err, out, stderr)
	}
	wantReuseAlone(t, p)
	reason = churnAdvice(p)
	if why := eventsRefused(advisorBin); why != "" {
		// Without the events nothing is open to name nginx by: the
		// advice is the general one, it claims no rate it cannot see,
		// and diagnose takes the full destination's demand to be at
		// least its capacity and says why the events are missing.
		wantNoEvents(t, ns, advisorBin, why, reason)
	} else {
		opens := regexp.MustCompile(`nginx \(` + regexp.QuoteMeta(unit) + `\) opens [1-9][0-9,]*/s towards 127\.0\.0\.1:9000; [1-9][0-9,]* connect\(\) calls failed for lack of a port in the last [0-9]+ s( \([0-9,]+ of them immediate retries\))? \(nginx in ` + regexp.QuoteMeta(unit) + `, [1-9][0-9,]* attempts/s\)`)
		if !opens.MatchString(reason) {
			t.Errorf("the plan's churn advice does not name nginx, its unit and its rates (%s):\n%s", opens, reason)
		}
		for _, want := range []string{"opened by nginx", "unit " + unit, "keepalive 32;", "proxy_http_version 1.1;", `proxy_set_header Connection "";`} {
			if !strings.Contains(reason, want) {
				t.Errorf("the plan's churn advice lacks %q:\n%s", want, reason)
			}
		}
	}
	t.Logf("plan: %+v; advice: %s", p.Changes, reason)
	agent.stop(t, syscall.SIGTERM)
	replayAgentRecording(t, agent.log.String(), elsewhere, nobodyBinary(t, advisorBin))
	load.Wait()
	t.Logf("load before: %s", strings.TrimSpace(loadOut.String()))
	if !strings.Contains(loadOut.String(), "errors") || strings.Contains(loadOut.String(), "errors 0") {
		t.Fatalf("load before the change: %q, want failures (502s)", loadOut.String())
	}
	if out, stderr, code := runExit(t, ns, advisorBin, "apply", "--yes", "--samples", "1", "--state-dir", t.TempDir()); code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", code, out, stderr)
	}
	if got := ns.Sysctl(t, "net.ipv4.ip_local_port_range"); got != "40000 40999" {
		t.Errorf("range %q: widened although reuse suffices", got)
	}
	after := ns.MustRun(t, loadBin, "http-load", "-addr", "127.0.0.1:8080", "-rate", "200", "-conns", "80", "-duration", "6s")
	t.Logf("load after tcp_tw_reuse = 1: %s", strings.TrimSpace(after))
	if !strings.Contains(after, "errors 0") {
		t.Errorf("load after the change: %q, want no error", after)
	}
}

// wantNoEvents checks what tcp-advisor at advisorBin, refused the kernel's
// connection events (why starts its "kernel events unavailable: REASON"),
// says of ns's full destination 127.0.0.1:9000, whose connect() calls fail
// and leave no socket open: advice, the plan's churn advice, that names no
// opener and claims no rate, and a diagnosis that takes the demand to be at
// least the capacity and says why the events are missing.
func wantNoEvents(t *testing.T, ns *netnstest.NS, advisorBin, why, advice string) {
	t.Helper()
	for _, want := range []string{"127.0.0.1:9000 runs short of ports", "1000 of 1000 usable ports are unavailable", "reuse connections from a pool"} {
		if !strings.Contains(advice, want) {
			t.Errorf("without the events, the churn advice on the full destination lacks %q:\n%s", want, advice)
		}
	}
	for _, claim := range []string{"opened by", "connect() failed", "/s towards"} {
		if strings.Contains(advice, claim) {
			t.Errorf("without the events, the churn advice claims %q:\n%s", claim, advice)
		}
	}
	text := ns.MustRun(t, advisorBin, "diagnose")
	for _, want := range []string{"failed calls count nowhere, so the demand is at least the capacity", "\n" + why} {
		if !strings.Contains(text, want) {
			t.Errorf("without the events, diagnose lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "connection events:") {
		t.Errorf("without the events, diagnose gives connection events:\n%s", text)
	}
}

// wantReuseAlone fails t unless p's only change is tcp_tw_reuse = 1, the
// smallest change that suffices.
func wantReuseAlone(t *testing.T, p planJSON) {
	t.Helper()
	if len(p.Changes) != 1 || p.Changes[0].Key != "net.ipv4.tcp_tw_reuse" || p.Changes[0].To != "1" {
		t.Fatalf("plan %+v: want tcp_tw_reuse = 1 alone", p.Changes)
	}
	if !strings.Contains(p.Changes[0].Reason, "smallest change that suffices") {
		t.Errorf("the plan's reason lacks %q:\n%s", "smallest change that suffices", p.Changes[0].Reason)
	}
}

// churnAdvice is the message of the plan's connection-churn advice.
func churnAdvice(p planJSON) string {
	for _, a := range p.Advice {
		if a.Rule == "connection-churn" {
			return a.Message
		}
	}
	return ""
}

// leaker is a Python service that accepts connections and never closes
// them, with RLIMIT_NOFILE 1024.
const leaker = `
import resource, socket
resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 8000))
s.listen(1024)
print("ready", flush=True)
held = []
while True:
    c, _ = s.accept()
    held.append(c)
`

// TestKernelPythonLeak: a Python service leaks CLOSE_WAIT sockets; the
// report names it, its service port, and the descriptors it holds against
// its RLIMIT_NOFILE.
func TestKernelPythonLeak(t *testing.T) {
	advisorBin, loadBin := binaries(t)
	netnstest.RequireTools(t, "python3")
	python, _ := exec.LookPath("python3")
	ns := netnstest.New(t)
	ns.Start(t, "ready", python, "-c", leaker)
	ns.MustRun(t, loadBin, "dial", "-addr", "127.0.0.1:8000", "-rate", "100", "-duration", "3s")
	time.Sleep(500 * time.Millisecond)

	var d struct {
		CloseWait struct {
			Count   int `json:"count"`
			ByOwner []struct {
				Command   string `json:"command"`
				LocalPort int    `json:"local_port"`
				FDs       int    `json:"fds"`
				FDLimit   int    `json:"fd_limit"`
			} `json:"by_owner"`
		} `json:"close_wait"`
	}
	out := ns.MustRun(t, advisorBin, "diagnose", "--format", "json")
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatal(err)
	}
	if d.CloseWait.Count < 290 || len(d.CloseWait.ByOwner) == 0 {
		t.Fatalf("close_wait %+v", d.CloseWait)
	}
	o := d.CloseWait.ByOwner[0]
	if o.Command != "python3" || o.LocalPort != 8000 || o.FDLimit != 1024 || o.FDs < d.CloseWait.Count {
		t.Errorf("owner %+v: want python3 on port 8000 holding at least %d of 1024 descriptors", o, d.CloseWait.Count)
	}
	text := ns.MustRun(t, advisorBin, "diagnose")
	if !strings.Contains(text, "file descriptors of its limit of 1024 (RLIMIT_NOFILE") || !strings.Contains(text, "python3 (pid") {
		t.Errorf("the report does not give the descriptors against the limit:\n%s", text)
	}
	recordScenario(t, ns, advisorBin, "python-close-wait-leak", 3*time.Second)
}
