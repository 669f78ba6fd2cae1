package netns

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/tcp-advisor/tcp-advisor/advisor"
)

// ThreadCookie returns the cookie of the network namespace the calling
// thread is in: SO_NETNS_COOKIE of a socket made there (a unix socket,
// which every sandbox that lets the agent talk to journald allows). The
// kernel numbers namespaces from one at each boot and never reuses a
// number within it. It is 0, and no error, on kernels before 5.14.
func ThreadCookie() (uint64, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("netns cookie: socket: %w", err)
	}
	defer unix.Close(fd)
	cookie, err := unix.GetsockoptUint64(fd, unix.SOL_SOCKET, unix.SO_NETNS_COOKIE)
	if errors.Is(err, unix.ENOPROTOOPT) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("netns cookie: %w", err)
	}
	return cookie, nil
}

// BootID returns the boot id of the system this process belongs to: the
// kernel's random boot id as PID 1 sees it
// (procRoot/1/root/proc/sys/kernel/random/boot_id), else as this process
// does (procRoot/sys/kernel/random/boot_id). systemd-nspawn gives each boot
// of a container a boot id of its own, mounted over the kernel's in the
// container's mount namespace, which a service's sandbox (a mount namespace
// of its own) does not keep: read through PID 1, a container's service and
// a command run in the container see the same one.
func BootID(procRoot string) (string, error) {
	b, err := os.ReadFile(filepath.Join(procRoot, "1", "root", "proc", "sys", "kernel", "random", "boot_id"))
	if err != nil {
		b, err = os.ReadFile(filepath.Join(procRoot, "sys", "kernel", "random", "boot_id"))
	}
	if err != nil {
		return "", fmt.Errorf("boot id: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// Identify adds a namespace's cookie, as cookie reads it (ThreadCookie for
// the namespace this process runs in, Namespace.Cookie for another),
// and the boot id to n. Both stay empty where the kernel has no cookie.
func Identify(n advisor.Netns, procRoot string, cookie func() (uint64, error)) (advisor.Netns, error) {
	boot, err := BootID(procRoot)
	if err != nil {
		return n, err
	}
	c, err := cookie()
	if err != nil {
		return n, err
	}
	if c != 0 {
		n.Cookie, n.BootID = c, boot
	}
	return n, nil
}
