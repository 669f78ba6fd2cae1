package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tcp-advisor/tcp-advisor/advisor/observe"
	"github.com/tcp-advisor/tcp-advisor/policies"
	"github.com/tcp-advisor/tcp-advisor/remediate/orchestrate"
	"github.com/tcp-advisor/tcp-advisor/systemd"
)

// newLogger logs to journald when its socket is there, else to stderr.
func newLogger(stderr io.Writer) *systemd.Logger { return systemd.NewLogger(stderr) }

func runAgent(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("run", stderr)
	policyPaths := policyFlag(fs)
	mode := fs.String("mode", "", "dry-run or enforce (default: the policy's mode)")
	interval := durationFlag(fs, "interval", 0, "tick interval, 1s or more (default: the policy's interval)")
	detail := durationFlag(fs, "detail-interval", time.Minute, "how often a tick also dumps CLOSE_WAIT, FIN_WAIT2 and LISTEN sockets; a CLOSE_WAIT socket counts as stuck after three such dumps")
	stateDir := stateDirFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *mode != "" && *mode != policies.ModeDryRun && *mode != policies.ModeEnforce {
		return usageError{fmt.Errorf("--mode %q: want dry-run or enforce", *mode)}
	}
	if *interval != 0 && *interval < time.Second {
		return usageError{fmt.Errorf("--interval %s: want 1s or more", *interval)}
	}
	if *detail < time.Second {
		return usageError{fmt.Errorf("--detail-interval %s: want 1s or more", *detail)}
	}
	session, err := orchestrate.OpenSession(paths, *stateDir, nil, "", nil)
	if err != nil {
		return err
	}
	cfg := orchestrate.Config{PolicyPaths: *policyPaths, Mode: *mode, Interval: *interval, DetailEvery: *detail, Watchdog: systemd.WatchdogInterval()}
	a, err := orchestrate.New(cfg, observe.New(paths.Proc, paths.Sys), session, newLogger(stderr), systemd.NewNotifier())
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	reload := make(chan struct{}, 1)
	go func() {
		for range hup {
			select {
			case reload <- struct{}{}:
			default:
			}
		}
	}()
	return a.Run(ctx, reload)
}
