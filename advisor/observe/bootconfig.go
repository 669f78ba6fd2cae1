package observe

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// systemdRunDir exists when systemd booted the system (sd_booted(3)); a
// variable so tests can point it elsewhere.
var systemdRunDir = "/run/systemd/system"

// BootConfigured reports whether dir (/etc/sysctl.d) configures the network
// namespace this process runs in at boot: systemd booted the system the
// process belongs to (its systemd-sysctl.service applies sysctl.d to PID
// 1's network namespace), the process shares PID 1's network namespace,
// and its dir is PID 1's. That holds for a host's service and for the
// service of a booted container (systemd-nspawn -b, a machine), whose
// systemd applies its own sysctl.d to its own namespace; not for a process
// in another namespace (ip netns exec, a Docker container without systemd,
// an agent on the host looking into a pod). Reading procRoot/1 needs root
// or CAP_SYS_PTRACE; without, the answer is false with the error.
func BootConfigured(procRoot, dir string) (bool, error) {
	if _, err := os.Stat(systemdRunDir); err != nil {
		return false, nil
	}
	same := func(a, b string) (bool, error) {
		var sa, sb unix.Stat_t
		if err := unix.Stat(a, &sa); err != nil {
			return false, err
		}
		if err := unix.Stat(b, &sb); err != nil {
			return false, err
		}
		return sa.Dev == sb.Dev && sa.Ino == sb.Ino, nil
	}
	ok, err := same(filepath.Join(procRoot, "self", "ns", "net"), filepath.Join(procRoot, "1", "ns", "net"))
	if err != nil || !ok {
		return false, wrapBoot(err)
	}
	ok, err = same(dir, filepath.Join(procRoot, "1", "root", dir))
	if errors.Is(err, os.ErrNotExist) {
		// No drop-in directory yet: the file system it would be made on.
		ok, err = same(filepath.Dir(dir), filepath.Join(procRoot, "1", "root", filepath.Dir(dir)))
	}
	return ok && err == nil, wrapBoot(err)
}

func wrapBoot(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("whether sysctl.d configures this network namespace at boot: %w", err)
}
