package systemtest

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tcp-advisor/tcp-advisor/remediate"
	"github.com/tcp-advisor/tcp-advisor/systemd"
)

const (
	rangeKey     = "net.ipv4.ip_local_port_range"
	rangeStart   = "40000 40199" // 200 ports, different parity
	stateFile    = "/var/lib/tcp-advisor/state.json"
	dropIn       = "/etc/sysctl.d/90-tcp-advisor.conf"
	policiesDir  = "/etc/tcp-advisor/policies.d/"
	restoreFile  = "/var/lib/tcp-advisor/restore-originals.conf"
	envFile      = "/etc/tcp-advisor/tcp-advisor.env"
	enforceArgs  = `TCP_ADVISOR_ARGS="--mode enforce --detail-interval 3s"`
	shortCooling = 10 * time.Second
)

// liveRange reads the container's port range, whitespace-normalized.
func liveRange(t *testing.T, c *Container) string {
	t.Helper()
	return strings.Join(strings.Fields(c.Run(t, "sysctl", "-n", rangeKey)), " ")
}

// history reads the state file's history.
func history(t *testing.T, c *Container) []remediate.Record {
	t.Helper()
	var st remediate.State
	if err := json.Unmarshal([]byte(c.Run(t, "cat", stateFile)), &st); err != nil {
		t.Fatal(err)
	}
	return st.History
}

// setArgs sets the agent's arguments in the environment file.
func setArgs(t *testing.T, c *Container, line string) {
	t.Helper()
	c.Sh(t, `sed -i 's/^TCP_ADVISOR_ARGS=.*/`+line+`/' `+envFile)
}

// reloadAndWait reloads the agent and waits for the policy it loads.
func reloadAndWait(t *testing.T, c *Container) {
	t.Helper()
	loaded := len(events(t, c, systemd.EventPolicyLoaded))
	c.Run(t, "systemctl", "reload", unit)
	waitEvent(t, c, systemd.EventPolicyLoaded, loaded, 20*time.Second, nil)
}

// rangeApplied counts the agent's change_applied entries for the range
// beyond the first after.
func rangeApplied(t *testing.T, c *Container, after int) int {
	t.Helper()
	n := 0
	for _, e := range events(t, c, systemd.EventChangeApplied)[after:] {
		if e[systemd.FieldKey] == rangeKey {
			n++
		}
	}
	return n
}

// testRollbackBesideAgent: `tcp-advisor rollback --yes` while the agent
// enforces under a persisting exhaustion (10 connections/s closed first,
// three times what the restored range holds). The rollback restores the
// original, the history keeps every entry, the agent journals the rollback
// (no key_released) and widens the range again once, after the cooldown
// since the rollback (10 s here); as the booted container's own service it
// persists the change in the container's /etc/sysctl.d. Then both ways to
// keep the original: the rule disabled, and --mode dry-run. Leaves the
// agent enforcing with the range widened, the drop-in gone and the
// policies as the package ships them.
func testRollbackBesideAgent(t *testing.T, c *Container) {
	// The shipped policies with a 10 s cooldown for the range: merging
	// never loosens a guardrail, so they replace the defaults.
	c.Sh(t, "cp /usr/share/tcp-advisor/policies/*.hcl "+policiesDir)
	rule := strings.Replace(c.Run(t, "cat", "/usr/share/tcp-advisor/policies/10-port-exhaustion.hcl"), `cooldown = "5m"`, fmt.Sprintf("cooldown = %q", shortCooling.String()), 1)
	c.WriteFile(t, policiesDir+"10-port-exhaustion.hcl", []byte(rule), 0o644)
	c.WriteFile(t, policiesDir+"05-persist.hcl", []byte("agent {\n  defaults = false\n  persist  = true\n}\n"), 0o644)
	t.Cleanup(func() { c.Try("sh", "-c", "rm -f "+policiesDir+"*.hcl") })
	reloadAndWait(t, c)
	c.Run(t, "systemd-run", "--unit=tcpadv-dial2", "/usr/local/bin/tcpload", "dial", "-addr", "127.0.0.1:9000", "-rate", "10", "-duration", "150s", "-serve")
	defer c.Try("systemctl", "stop", "tcpadv-dial2")
	if r := liveRange(t, c); r == rangeStart {
		t.Fatalf("%s = %s: the agent should have widened it before", rangeKey, r)
	}

	before := history(t, c)
	notes := len(events(t, c, systemd.EventChangeRolledBack))
	applied := len(events(t, c, systemd.EventChangeApplied))
	out := c.Run(t, "tcp-advisor", "rollback", "--yes")
	if r := liveRange(t, c); r != rangeStart || !strings.Contains(out, "restored "+rangeKey) {
		t.Fatalf("rollback beside the agent: %s = %s\n%s", rangeKey, r, out)
	}
	note := waitEvent(t, c, systemd.EventChangeRolledBack, notes, 20*time.Second, func(e journalEntry) bool { return e[systemd.FieldKey] == rangeKey })
	if !strings.Contains(note["MESSAGE"], "once 10s after the rollback") {
		t.Errorf("the agent's rollback entry: %q", note["MESSAGE"])
	}
	again := waitEvent(t, c, systemd.EventChangeApplied, applied, 40*time.Second, func(e journalEntry) bool { return e[systemd.FieldKey] == rangeKey })
	t.Logf("widened again after the rollback: %s", again["MESSAGE"])
	after := history(t, c)
	rolled := 0
	for i, r := range after {
		if i < len(before) && r != before[i] {
			t.Errorf("history entry %d changed: %+v, was %+v", i, r, before[i])
		}
		if r.Action == remediate.ActionRollback {
			rolled++
		}
		if r.Action == remediate.ActionRelease {
			t.Errorf("the rollback was taken for an outside change: %+v", r)
		}
	}
	if len(after) <= len(before) || rolled == 0 || after[len(after)-1].Action != remediate.ActionApply {
		t.Errorf("history after the rollback and the new change: %+v", after[len(before):])
	}
	if len(events(t, c, systemd.EventKeyReleased)) > 0 {
		t.Errorf("key_released entries after a rollback: %v", events(t, c, systemd.EventKeyReleased))
	}
	if conf, err := c.Try("cat", dropIn); err != nil || !strings.Contains(conf, rangeKey+" = "+liveRange(t, c)) {
		t.Errorf("the agent, the container's own service, did not persist the change in %s: %v\n%s", dropIn, err, conf)
	}

	// Rule disabled: a rollback stays.
	c.WriteFile(t, policiesDir+"90-off.hcl", []byte("rule \"port-exhaustion\" {\n  enabled = false\n}\n"), 0o644)
	reloadAndWait(t, c)
	applied = len(events(t, c, systemd.EventChangeApplied))
	c.Run(t, "tcp-advisor", "rollback", "--yes")
	if _, err := c.Try("test", "-e", dropIn); err == nil {
		t.Errorf("rollback left %s", dropIn)
	}
	if status := c.Run(t, "tcp-advisor", "status"); !strings.Contains(status, "Rolled back "+rangeKey) || !strings.Contains(status, "--mode dry-run") {
		t.Errorf("status after the rollback:\n%s", status)
	}
	time.Sleep(shortCooling + 5*time.Second)
	if n := rangeApplied(t, c, applied); n != 0 || liveRange(t, c) != rangeStart {
		t.Errorf("with the rule disabled the range changed %d time(s), now %s", n, liveRange(t, c))
	}

	// --mode dry-run: the rule fires, the agent only recommends.
	c.Run(t, "rm", policiesDir+"90-off.hcl")
	setArgs(t, c, `TCP_ADVISOR_ARGS="--mode dry-run --detail-interval 3s"`)
	recs := len(events(t, c, systemd.EventRecommendation))
	c.Run(t, "systemctl", "restart", unit)
	waitEvent(t, c, systemd.EventRecommendation, recs, 30*time.Second, func(e journalEntry) bool { return e[systemd.FieldKey] == rangeKey })
	if n := rangeApplied(t, c, applied); n != 0 || liveRange(t, c) != rangeStart {
		t.Errorf("in dry-run the range changed %d time(s), now %s", n, liveRange(t, c))
	}

	// Enforce again: widened, as the next subtests expect.
	setArgs(t, c, enforceArgs)
	c.Run(t, "systemctl", "restart", unit)
	waitEvent(t, c, systemd.EventChangeApplied, applied, 40*time.Second, func(e journalEntry) bool { return e[systemd.FieldKey] == rangeKey })
	if n := rangeApplied(t, c, applied); n != 1 {
		t.Errorf("back in enforce the range changed %d times, want once", n)
	}
	c.Sh(t, "rm -f "+policiesDir+"*.hcl")
	reloadAndWait(t, c)
	requireActive(t, c)
}

// applyUnderPressure fills a 200-port range with TIME_WAIT sockets and runs
// `tcp-advisor apply --yes` on a new state (the rollbacks before started
// the keys' cooldowns), which widens it: a live change and its record. It
// returns the widened range.
func applyUnderPressure(t *testing.T, c *Container) string {
	t.Helper()
	c.Sh(t, "rm -f "+stateFile)
	// Timestamps off: tcp_tw_reuse = 1, the smaller change, cannot free
	// the TIME_WAIT ports, so the range is what apply changes.
	c.Run(t, "sysctl", "-q", "-w", rangeKey+"="+rangeStart, "net.ipv4.tcp_tw_reuse=0", "net.ipv4.tcp_timestamps=0")
	c.Run(t, "/usr/local/bin/tcpload", "timewait", "-addr", "127.0.0.1:9300", "-n", "190")
	out := c.Run(t, "tcp-advisor", "apply", "--yes", "--samples", "1")
	r := liveRange(t, c)
	if r == rangeStart {
		t.Fatalf("apply left %s at %s:\n%s", rangeKey, r, out)
	}
	return r
}

// testReboot: the container reboots with a state recorded on the boot
// before, whose network namespace went with it. The enabled agent starts
// and stays active; the old state is moved aside with one
// state_moved_aside entry. Leaves the agent running in enforce mode.
func testReboot(t *testing.T, c *Container) {
	applyUnderPressure(t, c)
	bootBefore := strings.TrimSpace(c.Run(t, "cat", "/proc/sys/kernel/random/boot_id"))
	c.Reboot(t)
	t.Logf("boot id %s, then %s", bootBefore, strings.TrimSpace(c.Run(t, "cat", "/proc/sys/kernel/random/boot_id")))
	deadline := time.Now().Add(30 * time.Second)
	for show(t, c, "ActiveState") != "active" && time.Now().Before(deadline) {
		time.Sleep(500 * time.Millisecond)
	}
	requireActive(t, c)
	moved := waitEvent(t, c, systemd.EventStateMovedAside, 0, 10*time.Second, nil)
	t.Logf("after the reboot: %s", moved["MESSAGE"])
	if n := len(events(t, c, systemd.EventStateMovedAside)); n != 1 {
		t.Errorf("%d state_moved_aside entries in this boot, want 1", n)
	}
	if n := len(events(t, c, systemd.EventAgentFailed)); n != 0 || show(t, c, "NRestarts") != "0" {
		t.Errorf("the agent failed %d time(s), restarted %s time(s)", n, show(t, c, "NRestarts"))
	}
	if out := c.Sh(t, "ls "+stateFile+".gone-*"); strings.Count(out, ".gone-") != 1 {
		t.Errorf("moved-aside files: %q", out)
	}
}
