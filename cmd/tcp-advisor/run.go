package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/advisor/event"
	"github.com/tcp-advisor/tcp-advisor/advisor/metrics"
	"github.com/tcp-advisor/tcp-advisor/advisor/netns"
	"github.com/tcp-advisor/tcp-advisor/advisor/record"
	"github.com/tcp-advisor/tcp-advisor/remediate/agent"
	"github.com/tcp-advisor/tcp-advisor/systemd"
)

// agentOptions are the flags of run.
type agentOptions struct {
	policyPaths *pathList
	mode        *string
	interval    *time.Duration
	detail      *time.Duration
	stateDir    *string
	textfile    *string
	listen      *string
	top         *int
	flight      *time.Duration
	flightSize  *int
	all         *bool
}

// agentFlags returns run's flag set. validate --agent parses a running
// agent's command line with it, to find the policy paths it reloads.
func agentFlags() (*flag.FlagSet, *agentOptions) {
	fs := newFlags("run")
	return fs, &agentOptions{
		policyPaths: policyFlag(fs),
		mode:        fs.String("mode", "", "dry-run or enforce (default: the policy's mode)"),
		interval:    durationFlag(fs, "interval", 0, "tick interval, 1s or more (default: the policy's interval)"),
		detail:      durationFlag(fs, "detail-interval", time.Minute, "how often a tick also dumps CLOSE_WAIT, FIN_WAIT2 and LISTEN sockets; a CLOSE_WAIT socket counts as stuck after three such dumps"),
		stateDir:    stateDirFlag(fs),
		textfile:    fs.String("metrics-textfile", "", "write Prometheus metrics to this file each tick, atomically (node_exporter's textfile collector reads /var/lib/prometheus/node-exporter/*.prom on Debian)"),
		listen:      fs.String("metrics-listen", "", "serve Prometheus metrics at http://ADDR/metrics, e.g. 127.0.0.1:9815 (off by default)"),
		top:         fs.Int("metrics-top", metrics.DefaultTopN, "destinations and CLOSE_WAIT owners with metric series of their own; the rest add up in one \"other\" series"),
		flight:      durationFlag(fs, "flight-recorder", record.DefaultKeep, "how far back the flight recorder keeps frames in the state directory; a critical finding or an applied change writes them to a recording the journal entry names (RECORDING=)"),
		flightSize:  fs.Int("flight-recorder-size", record.DefaultMaxBytes>>20, "MiB the flight recorder keeps at most per namespace; 0 turns it off"),
		all:         fs.Bool("all-namespaces", false, "watch every network namespace of the host (containers and pods), found anew each tick; changes only where the policy's agent { enforce_namespaces } names them"),
	}
}

func runAgent(args []string, stdout, stderr io.Writer) (err error) {
	log := systemd.NewLogger(stderr)
	defer func() { err = agentFailed(log, err) }()
	fs, o := agentFlags()
	policyPaths, mode, interval, detail, stateDir := o.policyPaths, o.mode, o.interval, o.detail, o.stateDir
	textfile, listen, top, flight, flightSize, all := o.textfile, o.listen, o.top, o.flight, o.flightSize, o.all
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if m := advisor.Mode(*mode); m != "" && m != advisor.ModeDryRun && m != advisor.ModeEnforce {
		return usagef("--mode %q: want dry-run or enforce", *mode)
	}
	if *interval != 0 && *interval < time.Second {
		return usagef("--interval %s: want 1s or more", *interval)
	}
	if *detail < time.Second {
		return usagef("--detail-interval %s: want 1s or more", *detail)
	}
	if *flightSize < 0 {
		return usagef("--flight-recorder-size %d: want MiB, 0 or more", *flightSize)
	}
	if *top < 1 {
		return usagef("--metrics-top %d: want 1 or more", *top)
	}
	defer kernelEvents()()
	var m *metrics.Metrics
	version, revision := versionInfo()
	if *textfile != "" || *listen != "" {
		m = metrics.New(metrics.Options{TopN: *top, Textfile: *textfile, Version: version, Revision: revision})
	}
	sinks := eventSinks(log, m)
	session, err := agent.OpenSession(paths, *stateDir, nil, "", sinks(nil))
	if err != nil {
		return err
	}
	cfg := agent.Config{PolicyPaths: *policyPaths, Mode: advisor.Mode(*mode), Interval: *interval, DetailEvery: *detail, Watchdog: systemd.WatchdogInterval(),
		AllNamespaces: *all, Paths: paths, StateDir: *stateDir, Version: version}
	if *flightSize > 0 {
		cfg.FlightRecorder, cfg.FlightRecorderBytes = *flight, int64(*flightSize)<<20
	}
	if m != nil {
		cfg.Metrics = m
		if *listen != "" {
			srv, _, err := m.Listen(*listen)
			if errors.Is(err, syscall.EAFNOSUPPORT) || errors.Is(err, syscall.EPERM) {
				err = fmt.Errorf("%w (the packaged unit allows no IP socket: install its drop-in /usr/share/tcp-advisor/metrics-listen.conf)", err)
			}
			if err != nil {
				return err
			}
			defer srv.Close()
		}
	}
	a, err := agent.New(cfg, paths.Observer(), session, sinks, systemd.NewNotifier())
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

// eventSinks sends the agent's events about each network namespace to the
// journal and, when m is not nil, to the metrics.
func eventSinks(log *systemd.Logger, m *metrics.Metrics) agent.Sinks {
	return func(ns *netns.Namespace) event.Sink {
		sinks := event.Fanout{systemd.JournalSink{Log: log, Netns: ns}}
		if m != nil {
			sinks = append(sinks, m.SinkIn(ns))
		}
		return sinks
	}
}

// agentFailed logs an error that stops the agent as an agent_failed
// event, whose catalog entry says what to do. The event is where it is
// said: the exit status is 1 without another line. A usage error is also
// printed as usage, with the pointer to --help (the event only goes to the
// journal then); a request for help is no failure.
func agentFailed(log *systemd.Logger, err error) error {
	var help helpRequest
	var usage usageError
	switch {
	case err == nil, errors.As(err, &help):
		return err
	case errors.As(err, &usage):
		if log.Journal() {
			_ = log.Log(failedEvent(err))
		}
		return err
	}
	if log.Log(failedEvent(err)) != nil {
		return err
	}
	return exitError{code: 1}
}

// failedEvent is the agent_failed event of err.
func failedEvent(err error) systemd.Event {
	return systemd.Event{Kind: systemd.EventAgentFailed, Message: "tcp-advisor agent failed: " + err.Error()}
}
