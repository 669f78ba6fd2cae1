package netns

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strconv"

	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Enterer runs code inside a network namespace: Do runs fn on an OS thread
// that is inside the namespace for the whole call, and fn must do all its
// work on that thread. Reads of /proc/sys (a sysctl resolves in the opening
// thread's namespace, at open time) and /proc/<tid>/net, and netlink
// sockets (one belongs to the namespace it was created in) then see the
// namespace. Namespace is one; observe.NewIn and sysctl.NewIn take one.
type Enterer interface {
	Do(fn func() error) error
}

// ErrGone says a namespace no longer exists, or at least none of the paths
// it was found through leads to it any more: its name was deleted and every
// process seen holding it has exited.
var ErrGone = errors.New("network namespace gone")

// ErrEnterRefused says setns(2) into a network namespace was refused
// (EPERM): the process lacks CAP_SYS_ADMIN, or a seccomp filter (systemd's
// RestrictNamespaces=) forbids it. It stays refused until the process's
// privileges change, so the caller may say it once.
var ErrEnterRefused = errors.New("entering another network namespace is not permitted (setns needs CAP_SYS_ADMIN and a seccomp filter that allows it)")

// Do runs fn on an OS thread inside the namespace and returns fn's error. fn
// must do its work on that thread: it may not hand work to other goroutines,
// which run in the caller's namespace. While fn runs, /proc/sys/net and
// /proc/thread-self/net (or /proc/<gettid>/net) show the namespace, and a
// netlink socket fn opens belongs to it; /proc/net and /proc/self/net do not
// (they follow the process's main thread).
//
// Do runs fn on a new goroutine locked to its thread, so the caller's thread
// never changes namespace. When the thread cannot be returned to its
// namespace it stays locked, and the runtime ends it with the goroutine
// rather than let other code run in the wrong namespace.
//
// The namespace is entered through its name or the /proc/<pid>/ns/net of a
// process seen holding it, and only if that still leads to the inode found:
// a namespace that is gone gives ErrGone. Do holds no reference to the
// namespace between calls, so it never keeps a dead container's namespace
// alive. Entering needs CAP_SYS_ADMIN: without it the error is
// ErrEnterRefused.
func (n Namespace) Do(fn func() error) error {
	target, _, err := n.open()
	if err != nil {
		return err
	}
	defer target.Close()
	return run(target, fn)
}

// Path returns a path that leads to the namespace now: its name, or a
// holding process's /proc/<pid>/ns/net. It is for tools that take one
// (nsenter --net=PATH, ip netns exec takes only names); the path may stop
// leading there as soon as the process exits.
func (n Namespace) Path() (string, error) {
	h, path, err := n.open()
	if err != nil {
		return "", err
	}
	h.Close()
	return path, nil
}

// paths lists the ways into the namespace, its name first.
func (n Namespace) paths() []string {
	var out []string
	if n.named != "" {
		out = append(out, n.named)
	}
	for _, pid := range n.holders {
		out = append(out, filepath.Join(n.procRoot, strconv.Itoa(pid), "ns", "net"))
	}
	return out
}

// open opens the first path that still leads to the namespace's inode.
// Paths that are gone are skipped; any other error (EACCES without the
// right privileges) is returned if no path works.
func (n Namespace) open() (vnetns.NsHandle, string, error) {
	var other error
	for _, p := range n.paths() {
		h, err := vnetns.GetFromPath(p)
		if err != nil {
			if !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ESRCH) && other == nil {
				other = fmt.Errorf("open %s: %w", p, err)
			}
			continue
		}
		var st unix.Stat_t
		if err := unix.Fstat(int(h), &st); err == nil && st.Ino == n.Inode {
			return h, p, nil
		}
		// A recycled pid, or a name now bound to another namespace.
		h.Close()
	}
	if other != nil {
		return vnetns.None(), "", fmt.Errorf("%s: %w", n, other)
	}
	return vnetns.None(), "", fmt.Errorf("%s: %w", n, ErrGone)
}

// run calls fn on a fresh goroutine locked to its OS thread, inside target.
func run(target vnetns.NsHandle, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		origin, err := vnetns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("this thread's network namespace: %w", err)
			return
		}
		defer origin.Close()
		if err := vnetns.Set(target); err != nil {
			// setns changed nothing: the thread is still usable.
			runtime.UnlockOSThread()
			if errors.Is(err, unix.EPERM) {
				err = fmt.Errorf("%w: %w", ErrEnterRefused, err)
			}
			errc <- fmt.Errorf("setns: %w", err)
			return
		}
		ferr := fn()
		if err := vnetns.Set(origin); err != nil {
			// Stay locked: the thread ends with this goroutine.
			errc <- errors.Join(ferr, fmt.Errorf("setns back to %s: %w", origin, err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}
