package systemtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tcp-advisor/tcp-advisor/internal/testbin"
)

// Container is a systemd booted with systemd-nspawn on a throw-away copy of
// the host's file system, with a private network namespace.
//
// How it is made, and why it cannot outlive the test:
//
//	unshare --pid --fork --kill-child --mount --propagation private --mount-proc
//	  └─ sh: mount tmpfs; mount overlay lowerdir=/,upperdir=tmpfs; copy prep files
//	     └─ systemd-nspawn --register=no --keep-unit --private-network -D ROOT -b
//	          └─ /usr/lib/systemd/systemd (the container's PID 1)
//
// sh starts nspawn again when the container reboots (Reboot): the root and
// its files stay, the network namespace and the boot id are new.
//
// The mounts live only in unshare's private mount namespace, so the host's
// mount table never sees them and they vanish with the last process in it.
// nspawn is PID 1 of unshare's PID namespace: when it dies the kernel kills
// everything below it, container included. unshare gets SIGKILL if the test
// process dies (Pdeathsig) and then kills nspawn (--kill-child). So a test
// that fails, panics or times out still leaves nothing running or mounted;
// a normal Cleanup powers the container off first.
type Container struct {
	Name string // machine name, unique per container

	t       *testing.T
	cmd     *exec.Cmd
	exited  chan struct{}
	nspawn  int // host PID of systemd-nspawn
	pid1    int // host PID of the container's systemd
	console *os.File
	logPath string
}

// containerEnv is the environment of every command run inside: nothing of
// the test's own (CI=true, GOFLAGS, ...) leaks in.
var containerEnv = []string{
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"LANG=C.UTF-8",
	"HOME=/root",
	"TERM=dumb",
	"SYSTEMD_COLORS=0",
	"SYSTEMD_PAGER=",
	"SYSTEMD_LESS=",
	"PAGER=cat",
	"DEBIAN_FRONTEND=noninteractive",
}

// bootScript runs inside unshare's namespaces: $1 base directory, $2 prep
// tree copied over the container's root, $3 machine name.
const bootScript = `set -eu
base=$1 prep=$2 name=$3
mkdir -p "$base/t" "$base/root"
mount -t tmpfs -o size=2g,mode=0755 "$name" "$base/t"
mkdir "$base/t/upper" "$base/t/work"
mount -t overlay -o "lowerdir=/,upperdir=$base/t/upper,workdir=$base/t/work" "$name" "$base/root"
cp -a "$prep/." "$base/root/"
# systemd-nspawn exits 133 when the container reboots: boot it again, on
# the same root, as systemd-nspawn@.service does (RestartForceExitStatus=133).
while :; do
	rc=0
	systemd-nspawn --register=no --keep-unit --private-network --quiet \
		--console=read-only --link-journal=no --resolv-conf=off --timezone=off \
		--machine="$name" -D "$base/root" -b || rc=$?
	[ "$rc" -eq 133 ] || exit "$rc"
done
`

// requireSystemTest skips the test when this machine cannot run it, or fails
// it under CI=true, where a skip would hide a broken set-up.
func requireSystemTest(t *testing.T) {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		testbin.Missing(t, "system test: "+fmt.Sprintf(format, args...))
	}
	if testing.Short() {
		missing("-short")
	}
	if os.Geteuid() != 0 {
		missing("needs root")
	}
	for _, tool := range []string{"systemd-nspawn", "nsenter", "unshare", "sh", "cp"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing("%s not found (apt-get install systemd-container util-linux)", tool)
		}
	}
	for _, f := range []string{"/usr/lib/systemd/systemd", "/usr/bin/dpkg", "/usr/bin/systemctl"} {
		if _, err := os.Stat(f); err != nil {
			missing("the host's %s is what the container boots: %v", f, err)
		}
	}
	fs, err := os.ReadFile("/proc/filesystems")
	if err != nil || !bytes.Contains(fs, []byte("\toverlay\n")) {
		missing("no overlay file system in /proc/filesystems")
	}
}

// randomHex returns n random bytes in hex.
func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// Boot starts a container and waits until its systemd has finished booting
// (running or degraded). prep maps container paths to file contents written
// before boot; a nil value masks a unit (symlink to /dev/null) when the path
// is under /etc/systemd/system.
func Boot(t *testing.T, prep map[string][]byte) *Container {
	t.Helper()
	removeStalePropagateDirs()
	c := &Container{Name: fmt.Sprintf("%s%d-%s", namePrefix, os.Getpid(), randomHex(t, 3)), t: t}
	base := t.TempDir()
	prepDir := filepath.Join(base, "prep")
	for path, data := range prep {
		dst := filepath.Join(prepDir, path)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if data == nil {
			if err := os.Symlink("/dev/null", dst); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(prepDir, 0o755); err != nil {
		t.Fatal(err)
	}

	c.logPath = filepath.Join(base, "console.log")
	console, err := os.Create(c.logPath)
	if err != nil {
		t.Fatal(err)
	}
	c.console = console
	c.cmd = exec.Command("unshare", "--pid", "--fork", "--kill-child", "--mount", "--propagation", "private", "--mount-proc",
		"sh", "-c", bootScript, "boot", filepath.Join(base, "c"), prepDir, c.Name)
	c.cmd.Stdout, c.cmd.Stderr = console, console
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("starting systemd-nspawn: %v", err)
	}
	c.exited = make(chan struct{})
	go func() { c.cmd.Wait(); close(c.exited) }()
	t.Cleanup(c.shutdown)
	t.Logf("container %s: unshare pid %d, console log %s", c.Name, c.cmd.Process.Pid, c.logPath)

	if err := c.findPIDs(30 * time.Second); err != nil {
		t.Fatalf("container %s did not start: %v\n%s", c.Name, err, c.consoleTail())
	}
	state, err := c.waitBooted(90 * time.Second)
	if state != "running" && state != "degraded" {
		t.Fatalf("container %s: is-system-running = %q (%v)\n%s", c.Name, state, err, c.consoleTail())
	}
	if state == "degraded" {
		failed, _ := c.exec(context.Background(), nil, "systemctl", "--failed", "--no-legend")
		t.Logf("container %s booted degraded; failed units:\n%s", c.Name, failed)
	}
	return c
}

// waitBooted waits for the container's boot to finish and returns the
// system state. PID 1 is found before it has made /run/systemd/system and
// its private bus socket, so the first calls may say "offline" or not
// connect at all.
func (c *Container) waitBooted(timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		out, err := c.exec(ctx, nil, "systemctl", "is-system-running", "--wait")
		state := strings.TrimSpace(out)
		if (state != "" && state != "offline") || ctx.Err() != nil {
			return state, err
		}
		select {
		case <-c.exited:
			return "", errors.New("systemd-nspawn exited")
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// namePrefix starts every machine name; the test process's PID follows.
const namePrefix = "tcpadv-st-"

// propagateDir is where systemd-nspawn keeps a directory per machine, left
// behind when nspawn is killed rather than stopped.
const propagateDir = "/run/systemd/nspawn/propagate"

// removeStalePropagateDirs removes the (empty) directories of containers
// whose test process is gone: a run killed by a timeout leaves them.
func removeStalePropagateDirs() {
	entries, _ := os.ReadDir(propagateDir)
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), namePrefix)
		if !ok {
			continue
		}
		pid, _, _ := strings.Cut(rest, "-")
		if _, err := os.Stat("/proc/" + pid); errors.Is(err, os.ErrNotExist) {
			os.Remove(filepath.Join(propagateDir, e.Name())) // only if empty
		}
	}
}

// findPIDs waits for systemd-nspawn (the boot script's child) and the
// container's systemd (nspawn's child, running /usr/lib/systemd/systemd).
func (c *Container) findPIDs(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-c.exited:
			return errors.New("systemd-nspawn exited")
		default:
		}
		if c.nspawn == 0 {
			// unshare's child is the boot script's sh, nspawn its child.
			for _, sh := range children(c.cmd.Process.Pid) {
				for _, pid := range children(sh) {
					if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err == nil && strings.HasSuffix(exe, "/systemd-nspawn") {
						c.nspawn = pid
					}
				}
			}
		}
		if c.nspawn != 0 {
			for _, pid := range children(c.nspawn) {
				if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err == nil && strings.HasSuffix(exe, "/systemd") {
					c.pid1 = pid
					return nil
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("no container PID 1 after %v (nspawn pid %d)", timeout, c.nspawn)
}

// children lists the PIDs whose parent is pid.
func children(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", child))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		rest := stat[bytes.LastIndexByte(stat, ')')+1:]
		fields := strings.Fields(string(rest))
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out
}

// Reboot reboots the container (systemctl reboot inside) and waits until
// its systemd has booted again: the same root and files, a new network
// namespace and boot.
func (c *Container) Reboot(t *testing.T) {
	t.Helper()
	oldNspawn := c.nspawn
	_, _ = c.Try("systemctl", "reboot")
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", oldNspawn)); errors.Is(err, os.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s: no reboot in 60s\n%s", c.Name, c.consoleTail())
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.nspawn, c.pid1 = 0, 0
	if err := c.findPIDs(30 * time.Second); err != nil {
		t.Fatalf("container %s did not start again: %v\n%s", c.Name, err, c.consoleTail())
	}
	if state, err := c.waitBooted(90 * time.Second); state != "running" && state != "degraded" {
		t.Fatalf("container %s after reboot: is-system-running = %q (%v)\n%s", c.Name, state, err, c.consoleTail())
	}
}

// exec runs a command inside the container (all of PID 1's namespaces) and
// returns its stdout; the error carries stderr.
func (c *Container) exec(ctx context.Context, stdin []byte, args ...string) (string, error) {
	nsArgs := append([]string{"-t", strconv.Itoa(c.pid1), "-a", "--"}, args...)
	cmd := exec.CommandContext(ctx, "nsenter", nsArgs...)
	cmd.Env = containerEnv
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("%s: %w\nstderr: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), err
}

// Run runs a command inside the container with a one-minute limit and fails
// the test if it fails.
func (c *Container) Run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := c.Try(args...)
	if err != nil {
		t.Fatalf("in container: %v\nstdout: %s", err, out)
	}
	return out
}

// Try runs a command inside the container with a one-minute limit.
func (c *Container) Try(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return c.exec(ctx, nil, args...)
}

// Sh runs a shell script inside the container and fails the test if it
// fails.
func (c *Container) Sh(t *testing.T, script string) string {
	t.Helper()
	return c.Run(t, "sh", "-c", script)
}

// WriteFile writes a file inside the container (through its own cat, so
// paths resolve as the container sees them).
func (c *Container) WriteFile(t *testing.T, path string, data []byte, mode os.FileMode) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	script := `mkdir -p "$(dirname "$1")" && cat > "$1" && chmod "$2" "$1"`
	if _, err := c.exec(ctx, data, "sh", "-c", script, "write", path, fmt.Sprintf("%o", mode.Perm())); err != nil {
		t.Fatalf("writing %s in container: %v", path, err)
	}
}

// CopyIn copies a host file into the container.
func (c *Container) CopyIn(t *testing.T, hostPath, path string, mode os.FileMode) {
	t.Helper()
	data, err := os.ReadFile(hostPath)
	if err != nil {
		t.Fatal(err)
	}
	c.WriteFile(t, path, data, mode)
}

// Start runs a long-lived command inside the container in the background
// and stops it (SIGKILL to nsenter's process group) at cleanup.
func (c *Container) Start(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	nsArgs := append([]string{"-t", strconv.Itoa(c.pid1), "-a", "--"}, args...)
	cmd := exec.Command("nsenter", nsArgs...)
	cmd.Env = containerEnv
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %v in container: %v", args, err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
	return cmd
}

func (c *Container) consoleTail() string {
	data, _ := os.ReadFile(c.logPath)
	const max = 4000
	if len(data) > max {
		data = data[len(data)-max:]
	}
	return "--- console (tail) ---\n" + string(data)
}

// shutdown powers the container off (SIGTERM to nspawn: it asks the
// container's systemd to power off), then kills what is left. The mounts go
// with unshare's mount namespace.
func (c *Container) shutdown() {
	t := c.t
	if t.Failed() && c.pid1 != 0 {
		for _, args := range [][]string{
			{"systemctl", "status", "--no-pager", "--full", "tcp-advisor"},
			{"journalctl", "--no-pager", "-b", "-n", "80", "-u", "tcp-advisor"},
		} {
			out, err := c.Try(args...)
			t.Logf("container %s: %s:\n%s%v", c.Name, strings.Join(args, " "), out, errOrEmpty(err))
		}
		t.Log(c.consoleTail())
	}
	if c.nspawn != 0 {
		syscall.Kill(c.nspawn, syscall.SIGTERM)
	}
	select {
	case <-c.exited:
	case <-time.After(20 * time.Second):
		t.Logf("container %s: no clean power-off in 20s, killing it", c.Name)
		syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		<-c.exited
	}
	c.console.Close()
	// nspawn leaves this directory behind when it is killed.
	os.Remove(filepath.Join(propagateDir, c.Name))
}

func errOrEmpty(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
