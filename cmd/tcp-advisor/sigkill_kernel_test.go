package main

import (
	"context"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/remediate"
)

// sigkillTrials is how many times TestKernelSIGKILLDuringEnforce kills the
// agent.
const sigkillTrials = 50

// TestKernelSIGKILLDuringEnforce: under connection load that exhausts a
// 1000-port range, the agent enforces and is killed with SIGKILL at a
// random moment, 50 times. After each kill the state file parses, and
// `tcp-advisor rollback` restores every allow-listed sysctl to the value
// it had before the first trial, exactly.
func TestKernelSIGKILLDuringEnforce(t *testing.T) {
	advisorBin, loadBin := binaries(t)
	ns := exhaustionNS(t)
	// Timestamps on: each trial's agent has a change to make, tcp_tw_reuse
	// = 1 first, whatever the cooldown an earlier trial's range left.
	ns.SetSysctl(t, "net.ipv4.tcp_timestamps", "1")
	originals := map[string]string{}
	for _, k := range advisor.Registry() {
		if _, _, code := runExit(t, ns, "sysctl", "-n", k.Name); k.Settable && code == 0 {
			originals[k.Name] = ns.Sysctl(t, k.Name)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	load := ns.Command(ctx, loadBin, "dial", "-addr", "127.0.0.1:9000", "-rate", "400", "-duration", "10m", "-serve")
	if err := load.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = load.Wait() })
	time.Sleep(3 * time.Second) // the range fills

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 12))
	withRecords := 0
	for trial := range sigkillTrials {
		// A state of its own per trial: a rollback starts the keys'
		// cooldowns, which would keep the next trial's agent from
		// changing anything.
		stateDir := t.TempDir()
		statePath := filepath.Join(stateDir, remediate.StateFile)
		// Half the kills land in the first tick (start-up, observe,
		// apply), half anywhere in the first two ticks.
		delay := time.Duration(rng.Int64N(int64(150 * time.Millisecond)))
		if trial%2 == 1 {
			delay = time.Duration(rng.Int64N(int64(1500 * time.Millisecond)))
		}
		agent := startAgent(t, ns, advisorBin, "--mode", "enforce", "--interval", "1s", "--state-dir", stateDir)
		time.Sleep(delay)
		agent.stop(t, syscall.SIGKILL)

		b, err := os.ReadFile(statePath)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			t.Fatal(err)
		default:
			st, err := remediate.ParseState(statePath, b)
			if err != nil {
				t.Fatalf("trial %d (kill after %s): %v\n%s", trial, delay, err, b)
			}
			if len(st.Managed) > 0 {
				withRecords++
			}
		}
		if _, stderr, code := runExit(t, ns, advisorBin, "rollback", "--yes", "--state-dir", stateDir); code != 0 {
			t.Fatalf("trial %d: rollback exit %d: %s", trial, code, stderr)
		}
		for key, want := range originals {
			if got := ns.Sysctl(t, key); got != want {
				t.Fatalf("trial %d (kill after %s): %s = %q after rollback, want %q", trial, delay, key, got, want)
			}
		}
	}
	t.Logf("%d trials; %d were killed after the state recorded a change", sigkillTrials, withRecords)
	if withRecords < sigkillTrials/5 {
		t.Errorf("only %d of %d kills came after a change was recorded: the trials do not exercise enforcement", withRecords, sigkillTrials)
	}
}
