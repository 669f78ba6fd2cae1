package systemtest

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tcp-advisor/tcp-advisor/systemd"
)

const (
	allNamespacesConf = "/usr/share/tcp-advisor/all-namespaces.conf"
	allNamespacesArgs = `TCP_ADVISOR_ARGS="--all-namespaces"`
	notEntered        = "not entered: needs CAP_SYS_ADMIN (all-namespaces.conf)"
	entryRefused      = "network namespaces not watched: cannot enter "
)

// namespacesWatched is how the status line counts the namespaces watched.
var namespacesWatched = regexp.MustCompile(`; (\d+) namespaces;`)

// testAllNamespacesDropIn: with the env file's --all-namespaces line
// uncommented, the packaged unit cannot enter a namespace made in the
// container (no CAP_SYS_ADMIN): the agent says so once, naming the drop-in,
// not at every tick, and its status line counts the namespaces not entered.
// After the steps in the header of the packaged all-namespaces.conf it
// observes every namespace, within the exposure target. Leaves the agent
// running with the env file as it was and without the drop-in.
func testAllNamespacesDropIn(t *testing.T, c *Container) {
	c.Run(t, "ip", "netns", "add", "allns-probe")
	t.Cleanup(func() { c.Try("ip", "netns", "del", "allns-probe") })
	restoreUnitAfter(t, c, "restart")
	// The env file's line alone, as one who missed the drop-in would.
	c.Run(t, "sed", "-i", "-e", "/^TCP_ADVISOR_ARGS=/d", "-e", "s/^#"+allNamespacesArgs+"$/"+allNamespacesArgs+"/", envFile)
	if !containsLine(c.Run(t, "cat", envFile), allNamespacesArgs) {
		t.Fatalf("%s has no line #%s to uncomment", envFile, allNamespacesArgs)
	}
	failed := len(events(t, c, systemd.EventObservationFailed))
	// The tests before restarted the unit more often than its
	// StartLimitBurst= allows in StartLimitIntervalSec=; an operator's
	// restart here comes long after them.
	c.Run(t, "systemctl", "reset-failed", unit)
	// Type=notify: this returns after the first tick.
	c.Run(t, "systemctl", "restart", unit)
	e := waitEvent(t, c, systemd.EventObservationFailed, failed, 10*time.Second, func(e journalEntry) bool {
		return strings.HasPrefix(e["MESSAGE"], entryRefused)
	})
	t.Logf("without the drop-in: %s", e["MESSAGE"])
	for _, want := range []string{"CAP_SYS_ADMIN", allNamespacesConf, "operation not permitted"} {
		if !strings.Contains(e["MESSAGE"], want) {
			t.Errorf("the refusal does not say %q: %s", want, e["MESSAGE"])
		}
	}
	time.Sleep(11 * time.Second) // the next tick, 10 s on
	if es := events(t, c, systemd.EventObservationFailed)[failed:]; len(es) != 1 {
		t.Errorf("%d observation_failed entries over two ticks, want the one refusal: %v", len(es), es)
	}
	if status := show(t, c, "StatusText"); !strings.Contains(status, notEntered) {
		t.Errorf("StatusText %q does not say %q", status, notEntered)
	} else {
		t.Logf("StatusText without the drop-in: %s", status)
	}

	failed = len(events(t, c, systemd.EventObservationFailed))
	c.Run(t, "systemctl", "reset-failed", unit)
	followDropInHeader(t, c, allNamespacesConf, allNamespacesArgs)
	requireActive(t, c)
	checkExposure(t, c, "with all-namespaces.conf")
	requireAllNamespacesObserved(t, c)
	if es := events(t, c, systemd.EventObservationFailed)[failed:]; len(es) != 0 {
		t.Errorf("with the drop-in, the agent still fails to observe: %v", es)
	}
}

// requireAllNamespacesObserved: the agent's status line counts two
// namespaces or more (its own and one made with `ip netns add`; a unit of
// the container's with PrivateNetwork= may add one) and none it could not
// enter or observe.
func requireAllNamespacesObserved(t *testing.T, c *Container) {
	t.Helper()
	status := show(t, c, "StatusText")
	t.Logf("StatusText with the drop-in: %s", status)
	n := 0
	if m := namespacesWatched.FindStringSubmatch(status); m != nil {
		n, _ = strconv.Atoi(m[1])
	}
	if n < 2 || strings.Contains(status, "not entered") || strings.Contains(status, "not observed") {
		t.Errorf("StatusText %q: want 2 namespaces or more, all observed", status)
	}
}
