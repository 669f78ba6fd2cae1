package remediate

import (
	"errors"
	"testing"

	"github.com/tcp-advisor/tcp-advisor/advisor/sysctl"
)

// TestWritePathAllowList: whatever a plan or a state file says, the
// writer touches only keys of the policies' allow-list. A plan naming
// another key, and a tampered state file asking rollback to restore one,
// change nothing.
func TestWritePathAllowList(t *testing.T) {
	keys := map[string]string{
		"kernel.panic":            "0",
		"net.ipv4.ip_forward":     "0",
		"net.ipv4.tcp_timestamps": "1",
		"net.ipv4.tcp_tw_reuse":   "0",
	}
	root := fakeSys(t, keys)
	a := newApplier(t, root, "")
	st, _ := a.Store.Load()
	for _, key := range []string{"kernel.panic", "net.ipv4.ip_forward", "net.ipv4.tcp_timestamps", "net..ipv4.tcp_tw_reuse", "net/ipv4/tcp_tw_reuse"} {
		_, failed := a.Apply(st, Plan{Changes: []Change{{Key: key, From: keys[key], To: "1", Group: 1}}})
		var we *sysctl.WriteError
		if len(failed) != 1 {
			t.Errorf("%s: plan applied", key)
		} else if key == "kernel.panic" || key == "net.ipv4.ip_forward" || key == "net.ipv4.tcp_timestamps" {
			// Get succeeded, so the refusal came from the writer.
			if !errors.As(failed[0].Err, &we) {
				t.Errorf("%s: %v, want a WriteError", key, failed[0].Err)
			}
		}
	}
	// A tampered state: rollback would "restore" kernel.panic.
	st.Managed["kernel.panic"] = &ManagedKey{Original: "1", LastWritten: "0"}
	if _, err := a.Rollback(st, "kernel.panic"); err == nil {
		t.Error("rollback restored a key outside the allow-list")
	}
	for k, v := range keys {
		if got := readKey(t, root, k); got != v {
			t.Errorf("%s = %q, want %q untouched", k, got, v)
		}
	}
	sys, _ := sysctl.New(root)
	if err := sys.Set("kernel.panic", "1"); err == nil {
		t.Error("Set wrote kernel.panic")
	}
}
