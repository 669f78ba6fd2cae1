package systemd

import (
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"golang.org/x/sys/unix"

	"github.com/tcp-advisor/tcp-advisor/advisor/textsafe"
)

// Notifier sends sd_notify messages to the service manager. Outside systemd
// (NOTIFY_SOCKET unset) every method is a no-op that returns nil, so callers
// need no "am I a service" branches.
type Notifier struct {
	// monotonic returns CLOCK_MONOTONIC, as systemd wants it in MONOTONIC_USEC.
	monotonic func() (time.Duration, error)
}

// NewNotifier returns a Notifier for the socket named by NOTIFY_SOCKET. The
// variable is read at every send and left in place, like daemon.SdNotify does.
func NewNotifier() *Notifier {
	return &Notifier{monotonic: monotonicNow}
}

// Enabled reports whether messages go anywhere, that is whether NOTIFY_SOCKET
// is set.
func (n *Notifier) Enabled() bool {
	_, ok := lookupNotifySocket()
	return ok
}

// Ready tells systemd that start-up, or a reload, is complete.
func (n *Notifier) Ready() error { return n.send(daemon.SdNotifyReady) }

// Status sets the one-line status that `systemctl status` shows. Line breaks
// are folded into spaces: a newline would start another assignment, and a
// status must never be able to say READY=1 by accident.
func (n *Notifier) Status(line string) error {
	return n.send("STATUS=" + textsafe.Escape(lineBreaks.Replace(line)))
}

// lineBreaks folds every line break into a space.
var lineBreaks = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ")

// Watchdog pings the service manager's watchdog. Call it from the loop whose
// liveness it vouches for, every WatchdogInterval.
func (n *Notifier) Watchdog() error { return n.send(daemon.SdNotifyWatchdog) }

// Reloading tells systemd a reload has begun; call Ready when it is done.
// MONOTONIC_USEC is sent too, as systemd ≥ 253 requires for
// Type=notify-reload (systemd 252 ignores it).
func (n *Notifier) Reloading() error {
	msg := daemon.SdNotifyReloading
	if now, err := n.monotonic(); err == nil {
		msg += "\nMONOTONIC_USEC=" + strconv.FormatInt(now.Microseconds(), 10)
	}
	return n.send(msg)
}

// Stopping tells systemd the service is shutting down.
func (n *Notifier) Stopping() error { return n.send(daemon.SdNotifyStopping) }

func (n *Notifier) send(state string) error {
	_, err := daemon.SdNotify(false, state)
	return err
}

// WatchdogInterval is how often to call Watchdog: half of WATCHDOG_USEC, as
// sd_watchdog_enabled(3) advises, or 0 when the watchdog is off, is meant
// for another process (WATCHDOG_PID), or is set to nonsense.
func WatchdogInterval() time.Duration {
	d, err := daemon.SdWatchdogEnabled(false)
	if err != nil || d <= 0 {
		return 0
	}
	return d / 2
}

func lookupNotifySocket() (string, bool) {
	s, ok := os.LookupEnv("NOTIFY_SOCKET")
	return s, ok && s != ""
}

func monotonicNow() (time.Duration, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0, err
	}
	return time.Duration(ts.Nano()), nil
}
