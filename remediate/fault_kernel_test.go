package remediate

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/tcp-advisor/tcp-advisor/advisor/sysctl"
	"github.com/tcp-advisor/tcp-advisor/internal/netnstest"

	"github.com/tcp-advisor/tcp-advisor/advisor"
)

// The tests in this file run inside a scratch network namespace (see
// netnstest.Inside), which also has a private mount namespace: the tmpfs
// and bind mounts they make are gone when the test ends.

func mount(t *testing.T, source, target, fstype string, flags uintptr, data string) {
	t.Helper()
	if err := unix.Mount(source, target, fstype, flags, data); err != nil {
		t.Fatalf("mount %s on %s: %v", source, target, err)
	}
	t.Cleanup(func() { _ = unix.Unmount(target, unix.MNT_DETACH) })
}

// rangePlan is a group that reserves a port and widens the range.
func rangePlan(to string) Plan {
	return Plan{Changes: []Change{
		{Key: advisor.KeyReservedPorts, From: "", To: "41500", Rule: "widen", Group: 1},
		{Key: advisor.KeyPortRange, From: "40000 40999", To: to, Rule: "widen", Group: 1},
	}}
}

// TestKernelStoreFailureAppliesNothing: with the state directory full,
// read-only, or missing below a read-only parent, Apply writes no sysctl
// (the originals could not be recorded first), reports a StoreError, and
// leaves the previous state file whole.
func TestKernelStoreFailureAppliesNothing(t *testing.T) {
	if !netnstest.Inside(t) {
		return
	}
	tests := []struct {
		name  string
		setup func(t *testing.T, mnt string) (stateDir string)
	}{
		{"full", func(t *testing.T, mnt string) string {
			mount(t, "tmpfs", mnt, "tmpfs", 0, "size=64k")
			dir := filepath.Join(mnt, "state")
			s := NewStore(dir)
			if err := s.Save(sampleState()); err != nil {
				t.Fatal(err)
			}
			f, _ := os.Create(filepath.Join(mnt, "filler"))
			buf := make([]byte, 4096)
			for {
				if _, err := f.Write(buf); err != nil {
					break
				}
			}
			f.Close()
			return dir
		}},
		{"read-only", func(t *testing.T, mnt string) string {
			mount(t, "tmpfs", mnt, "tmpfs", 0, "size=64k")
			dir := filepath.Join(mnt, "state")
			if err := NewStore(dir).Save(sampleState()); err != nil {
				t.Fatal(err)
			}
			if err := unix.Mount("", mnt, "", unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
				t.Fatal(err)
			}
			return dir
		}},
		{"missing under a read-only parent", func(t *testing.T, mnt string) string {
			mount(t, "tmpfs", mnt, "tmpfs", unix.MS_RDONLY, "size=64k")
			return filepath.Join(mnt, "var/lib/tcp-advisor")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := fakeSys(t, liveKeys)
			dir := tt.setup(t, t.TempDir())
			before, _ := os.ReadFile(filepath.Join(dir, StateFile))
			a := newApplier(t, root, "")
			a.Store = NewStore(dir)
			st, err := a.Store.Load()
			if err != nil {
				t.Fatal(err)
			}
			applied, failed := a.Apply(st, rangePlan("40000 42999"))
			var se *StoreError
			if len(applied) != 0 || len(failed) != 1 || !errors.As(failed[0].Err, &se) {
				t.Fatalf("applied %+v, failed %+v; want one StoreError", applied, failed)
			}
			for key, want := range map[string]string{advisor.KeyPortRange: "40000 40999", advisor.KeyReservedPorts: ""} {
				if got := readKey(t, root, key); got != want {
					t.Errorf("%s = %q: written although the state could not be saved", key, got)
				}
			}
			after, _ := os.ReadFile(filepath.Join(dir, StateFile))
			if string(before) != string(after) {
				t.Errorf("state file changed:\n%s", after)
			}
		})
	}
}

// TestKernelWriteRejectedRestoresGroup: the kernel rejects a port range
// whose low end is above its high end with EINVAL. The reserved ports
// written before it in the same group are restored, nothing is recorded
// as applied, and the error names the key and the errno.
func TestKernelWriteRejectedRestoresGroup(t *testing.T) {
	if !netnstest.Inside(t) {
		return
	}
	for key, v := range map[string]string{advisor.KeyPortRange: "40000 40999", advisor.KeyReservedPorts: ""} {
		raw := v
		if raw == "" {
			raw = "\n"
		}
		if err := os.WriteFile("/proc/sys/"+strings.ReplaceAll(key, ".", "/"), []byte(raw), 0); err != nil {
			t.Fatal(err)
		}
	}
	a := newApplier(t, "/proc/sys", "")
	st, _ := a.Store.Load()
	applied, failed := a.Apply(st, rangePlan("41000 40000"))
	if len(applied) != 0 || len(failed) != 1 {
		t.Fatalf("applied %+v, failed %+v", applied, failed)
	}
	var we *sysctl.WriteError
	if !errors.As(failed[0].Err, &we) || we.Key != advisor.KeyPortRange || we.Errno() != "EINVAL" {
		t.Fatalf("error %v, want a WriteError for %s with EINVAL", failed[0].Err, advisor.KeyPortRange)
	}
	if msg := failed[0].Err.Error(); !strings.Contains(msg, advisor.KeyPortRange) || !strings.Contains(msg, "EINVAL") {
		t.Errorf("message %q lacks the key or the errno", msg)
	}
	sys, _ := sysctl.New("/proc/sys")
	if got, _ := sys.Get(advisor.KeyReservedPorts); got != "" {
		t.Errorf("reserved ports %q: not restored", got)
	}
	if got, _ := sys.Get(advisor.KeyPortRange); got != "40000 40999" {
		t.Errorf("range %q", got)
	}
	saved, err := a.Store.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(saved.Managed) != 0 || len(saved.History) != 0 {
		t.Errorf("a failed group left records: %+v %+v", saved.Managed, saved.History)
	}
}

// TestKernelReadOnlyProcSys: with /proc/sys mounted read-only the write
// fails with EROFS, named with its key, and nothing is recorded.
func TestKernelReadOnlyProcSys(t *testing.T) {
	if !netnstest.Inside(t) {
		return
	}
	mount(t, "/proc/sys", "/proc/sys", "", unix.MS_BIND, "")
	if err := unix.Mount("", "/proc/sys", "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, ""); err != nil {
		t.Fatal(err)
	}
	sys, _ := sysctl.New("/proc/sys")
	before, _ := sys.Get(advisor.KeyReservedPorts)
	a := newApplier(t, "/proc/sys", "")
	st, _ := a.Store.Load()
	plan := rangePlan("40000 42999")
	plan.Changes[0].From = before
	r, _ := sys.Get(advisor.KeyPortRange)
	plan.Changes[1].From = r
	_, failed := a.Apply(st, plan)
	var we *sysctl.WriteError
	if len(failed) != 1 || !errors.As(failed[0].Err, &we) || we.Errno() != "EROFS" || we.Key != advisor.KeyReservedPorts {
		t.Fatalf("failed = %+v, want EROFS on %s", failed, advisor.KeyReservedPorts)
	}
	if saved, _ := a.Store.Load(); len(saved.Managed) != 0 {
		t.Errorf("managed after a failed write: %+v", saved.Managed)
	}
}
