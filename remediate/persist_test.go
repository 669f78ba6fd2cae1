package remediate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPersistOnlyInSysctlD: whatever names the drop-in — a policy, a state
// file someone edited, the command line — nothing outside the sysctl.d
// directory is written, and nothing is applied when the drop-in could not
// be written.
func TestPersistOnlyInSysctlD(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sysctl.d")
	os.MkdirAll(dir, 0o755)
	outside := t.TempDir()
	for _, path := range []string{
		filepath.Join(outside, "90-tcp-advisor.conf"),
		dir + "/../escape.conf",
		filepath.Join(dir, "sub", "x.conf"),
		filepath.Join(dir, "no-suffix"),
		"/etc/passwd",
		"relative.conf",
	} {
		t.Run(path, func(t *testing.T) {
			root := fakeSys(t, liveKeys)
			a := newApplier(t, root, path)
			a.Persist.Dir = dir
			st, _ := a.Store.Load()
			applied, failed := a.Apply(st, Plan{Changes: []Change{{Key: "net.ipv4.tcp_tw_reuse", From: "0", To: "1", Group: 1}}})
			if len(applied) != 0 || len(failed) != 1 || !strings.Contains(failed[0].Err.Error(), "only *.conf files directly in") {
				t.Fatalf("applied %+v, failed %+v", applied, failed)
			}
			if got := readKey(t, root, "net.ipv4.tcp_tw_reuse"); got != "0" {
				t.Errorf("applied %q although the drop-in path is refused", got)
			}
			if ents, _ := os.ReadDir(outside); len(ents) != 0 {
				t.Errorf("wrote outside: %v", ents)
			}
		})
	}
}

// TestPersistReplacesSymlink: a symlink planted at the drop-in's name is
// replaced by the new file, and removed (not its target) on rollback; the
// file it pointed to is never written.
func TestPersistReplacesSymlink(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sysctl.d")
	os.MkdirAll(dir, 0o755)
	target := filepath.Join(t.TempDir(), "shadow")
	os.WriteFile(target, []byte("root:x:0:0::/root:/bin/sh\n"), 0o644)
	dropIn := filepath.Join(dir, "90-tcp-advisor.conf")
	if err := os.Symlink(target, dropIn); err != nil {
		t.Fatal(err)
	}
	root := fakeSys(t, liveKeys)
	a := newApplier(t, root, dropIn)
	st, _ := a.Store.Load()
	if _, failed := a.Apply(st, Plan{Changes: []Change{{Key: "net.ipv4.tcp_tw_reuse", From: "0", To: "1", Group: 1}}}); len(failed) != 0 {
		t.Fatal(failed)
	}
	fi, err := os.Lstat(dropIn)
	if err != nil || fi.Mode()&os.ModeSymlink != 0 || fi.Mode().Perm() != 0o644 {
		t.Fatalf("drop-in %v %v: want a regular 0644 file", fi.Mode(), err)
	}
	if b, _ := os.ReadFile(target); string(b) != "root:x:0:0::/root:/bin/sh\n" {
		t.Errorf("symlink target written: %q", b)
	}

	// Plant the symlink again; rollback removes the link, not the target.
	os.Remove(dropIn)
	os.Symlink(target, dropIn)
	if _, err := a.Rollback(st); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(dropIn); !os.IsNotExist(err) {
		t.Errorf("drop-in still there: %v", err)
	}
	if _, err := os.Stat(target); err != nil {
		t.Errorf("symlink target removed: %v", err)
	}
}

// TestPersistDirSymlinkRefused: a sysctl.d that is itself a symlink is not
// written through.
func TestPersistDirSymlinkRefused(t *testing.T) {
	real := t.TempDir()
	dir := filepath.Join(t.TempDir(), "sysctl.d")
	os.Symlink(real, dir)
	p := Persister{Path: filepath.Join(dir, "90-tcp-advisor.conf"), Dir: dir}
	if err := p.Sync(sampleState(), t0); err == nil {
		t.Error("wrote through a symlinked directory")
	}
	if ents, _ := os.ReadDir(real); len(ents) != 0 {
		t.Errorf("written: %v", ents)
	}
}
