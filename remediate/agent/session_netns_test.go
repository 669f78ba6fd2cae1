package agent

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/advisor/event"
	"github.com/tcp-advisor/tcp-advisor/remediate"
	"github.com/tcp-advisor/tcp-advisor/systemd"
)

// TestStateFromEarlierBoot: a state recorded on an earlier boot is moved
// aside (its namespace went with that boot), unless a drop-in it persisted,
// still there, re-applied its values at this boot where /etc/sysctl.d
// configures the namespace: then it goes on.
func TestStateFromEarlierBoot(t *testing.T) {
	here := advisor.Netns{Inode: 4026531840, Cookie: 1, BootID: "new-boot"}
	earlier := advisor.Netns{Inode: 4026531840, Cookie: 1, BootID: "old-boot"}
	for _, tt := range []struct {
		name           string
		dropIn         bool
		bootConfigured bool
		carried        bool
	}{
		{"drop-in re-applied it", true, true, true},
		{"no drop-in", false, true, false},
		{"drop-in, but sysctl.d does not configure this namespace", true, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			persist := filepath.Join(t.TempDir(), "90-tcp-advisor.conf")
			if tt.dropIn {
				if err := os.WriteFile(persist, []byte("net.ipv4.tcp_tw_reuse = 1\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			st := &remediate.State{Namespace: &earlier, PersistPath: persist, Managed: map[string]*remediate.ManagedKey{
				advisor.KeyTwReuse: {Original: "2", LastWritten: "1"}}}
			if err := remediate.NewStore(dir).Save(st); err != nil {
				t.Fatal(err)
			}
			log := &recordingLog{}
			s := openSession(nil, dir, here, tt.bootConfigured, log)
			if err := s.CheckNamespace(); err != nil {
				t.Fatal(err)
			}
			aside, _ := filepath.Glob(filepath.Join(dir, remediate.StateFile+".gone-*"))
			_, managed := s.State.Managed[advisor.KeyTwReuse]
			if tt.carried != managed || tt.carried == (len(aside) == 1) || tt.carried == (log.count(systemd.EventStateMovedAside) == 1) {
				t.Errorf("managed %v, moved aside %v, %d state_moved_aside events; want carried over %v", managed, aside, log.count(systemd.EventStateMovedAside), tt.carried)
			}
			if tt.carried {
				e, _ := emittedOnce[event.StateCarriedOver](t, log)
				if e.Dir != dir || e.DropIn != persist || e.File != filepath.Join(dir, remediate.StateFile) {
					t.Errorf("carried over %+v", e)
				}
			} else if hasType[event.StateCarriedOver](log) {
				t.Error("carried over a state whose values no drop-in re-applied")
			}
			if *s.State.Namespace != here {
				t.Errorf("state namespace %+v, want %+v", *s.State.Namespace, here)
			}
		})
	}
}
