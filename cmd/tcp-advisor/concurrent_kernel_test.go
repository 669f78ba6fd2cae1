package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tcp-advisor/tcp-advisor/internal/netnstest"
	"github.com/tcp-advisor/tcp-advisor/internal/testbin"
	"github.com/tcp-advisor/tcp-advisor/remediate"
)

var (
	// What each process says it did: apply and rollback on stdout, the
	// agent's change_applied entries on stderr.
	appliedRE  = regexp.MustCompile(`(?m)^applied (\S+) = "([^"]*)" \(was "([^"]*)"\)$`)
	restoredRE = regexp.MustCompile(`(?m)^restored (\S+) = "([^"]*)" \(was "([^"]*)"\)$`)
	agentSetRE = regexp.MustCompile(`change_applied: set (\S+) from "([^"]*)" to "([^"]*)"`)
)

// TestKernelConcurrentWritersLoseNothing runs the agent (enforce, a tick a
// second, a one-second cooldown), `apply --yes` and `rollback --yes` side by
// side on one state for a while, in a scratch namespace under port
// pressure. Every change any of them reports is in the history, exactly
// once, nothing else is; no key is ever taken for someone else's change;
// and each key's history is one unbroken chain of values.
func TestKernelConcurrentWritersLoseNothing(t *testing.T) {
	advisorBin, loadBin := binaries(t)
	hostRange := netnstest.HostSysctl(t, "net.ipv4.ip_local_port_range")
	ns := exhaustionNS(t)
	ns.MustRun(t, loadBin, "timewait", "-addr", "127.0.0.1:9000", "-n", "900")
	ns.Start(t, "ready", loadBin, "closewait", "-addr", "127.0.0.1:41001", "-n", "0")
	state := filepath.Join(t.TempDir(), "state")
	policy := t.TempDir()
	def, err := os.ReadFile(filepath.Join(testbin.RepoRoot(t), "policies", "10-port-exhaustion.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	fast := strings.Replace(string(def), `cooldown = "5m"`, `cooldown = "1s"`, 1)
	if err := os.WriteFile(filepath.Join(policy, "10-port-exhaustion.hcl"), []byte(fast), 0o644); err != nil {
		t.Fatal(err)
	}

	agent := startAgent(t, ns, advisorBin, "--mode", "enforce", "--interval", "1s", "--detail-interval", "1s", "--policy", policy, "--state-dir", state)
	var mu sync.Mutex
	var said []string // "action key from -> to", as the processes report them
	report := func(action string, re *regexp.Regexp, out string, toFirst bool) {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range re.FindAllStringSubmatch(out, -1) {
			from, to := m[2], m[3]
			if toFirst {
				from, to = to, from
			}
			said = append(said, fmt.Sprintf("%s %s %q -> %q", action, m[1], from, to))
		}
	}
	deadline := time.Now().Add(12 * time.Second)
	var wg sync.WaitGroup
	runs := map[string]int{}
	for _, cmd := range []struct {
		name string
		args []string
		re   *regexp.Regexp
	}{
		{remediate.ActionApply, []string{"apply", "--yes", "--samples", "1", "--policy", policy, "--state-dir", state}, appliedRE},
		{remediate.ActionRollback, []string{"rollback", "--yes", "--state-dir", state}, restoredRE},
	} {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				out, stderr, code := runExit(t, ns, advisorBin, cmd.args...)
				if code != 0 && !strings.Contains(stderr, remediate.ErrStateChanged.Error()) {
					t.Errorf("%s: exit %d\n%s%s", cmd.name, code, out, stderr)
				}
				report(cmd.name, cmd.re, out, true)
				mu.Lock()
				runs[cmd.name]++
				mu.Unlock()
				time.Sleep(150 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	agent.stop(t, syscall.SIGTERM)
	report(remediate.ActionApply, agentSetRE, agent.log.String(), false)

	b, err := os.ReadFile(filepath.Join(state, remediate.StateFile))
	if err != nil {
		t.Fatal(err)
	}
	var st remediate.State
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	var recorded []string
	last := map[string]string{}
	for _, r := range st.History {
		if r.Action == remediate.ActionRelease {
			t.Errorf("a tcp-advisor process took another's change for an outside one: %+v", r)
		}
		if prev, ok := last[r.Key]; ok && prev != r.From {
			t.Errorf("history of %s breaks: %q, then a record from %q (%+v)", r.Key, prev, r.From, r)
		}
		last[r.Key] = r.To
		recorded = append(recorded, fmt.Sprintf("%s %s %q -> %q", r.Action, r.Key, r.From, r.To))
	}
	slices.Sort(recorded)
	slices.Sort(said)
	t.Logf("%d apply and %d rollback runs beside the agent; %d changes reported, %d recorded", runs[remediate.ActionApply], runs[remediate.ActionRollback], len(said), len(recorded))
	if !slices.Equal(recorded, said) {
		t.Errorf("the history differs from what the processes reported:\nrecorded:\n  %s\nreported:\n  %s", strings.Join(recorded, "\n  "), strings.Join(said, "\n  "))
	}
	if !slices.ContainsFunc(said, func(s string) bool { return strings.HasPrefix(s, remediate.ActionRollback) }) ||
		!slices.ContainsFunc(said, func(s string) bool { return strings.HasPrefix(s, remediate.ActionApply) }) {
		t.Errorf("the run did not interleave applies and rollbacks: %v", said)
	}
	if got := netnstest.HostSysctl(t, "net.ipv4.ip_local_port_range"); got != hostRange {
		t.Errorf("the host's range changed from %q to %q", hostRange, got)
	}
}
