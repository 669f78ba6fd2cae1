package agent

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/advisor/record"
	"github.com/tcp-advisor/tcp-advisor/policies/judge"
	"github.com/tcp-advisor/tcp-advisor/remediate"
	"github.com/tcp-advisor/tcp-advisor/systemd"
)

// TestFlightRecordingReplaysTheAgentsJudgement: when a critical finding
// starts, the agent writes its flight recording and names it in the
// journal entry; replayed at its last frame, the recording gives the plan
// the agent made at that tick. An applied change writes one too, unless
// the tick already did.
func TestFlightRecordingReplaysTheAgentsJudgement(t *testing.T) {
	for _, mode := range []string{"dry-run", "enforce"} {
		t.Run(mode, func(t *testing.T) {
			a, obs, log, _, _ := setup(t, mode, "")
			a.cfg.FlightRecorder, a.cfg.FlightRecorderBytes = time.Minute, 1<<20
			a.fly(a.own)
			a.now = func() time.Time { return obs.now.Add(2 * time.Second) } // the time of the tick's snapshot
			obs.inUse = 100
			for range 3 {
				a.Tick()
			}
			if files, _ := filepath.Glob(filepath.Join(a.own.flight.Dir, "recordings", "*")); len(files) != 0 {
				t.Fatalf("recordings %v before anything happened", files)
			}
			obs.inUse = 990
			if mode == "enforce" {
				// A critical finding that started earlier: the change
				// applied now writes the recording.
				a.own.level = advisor.SeverityCritical
			}
			a.Tick()
			want := remediate.Planner{Set: a.set, State: nil, Now: obs.now}
			var path string
			for _, e := range log.events {
				if p := e.Fields[systemd.FieldRecording]; p != "" {
					path = p
				}
			}
			if path == "" {
				t.Fatalf("no journal entry names a recording:\n%v", log.events)
			}
			rec, err := record.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(rec.Series) != 1 || len(rec.Series[0].Frames) != 4 || rec.Source != "agent" {
				t.Fatalf("recording: %d series, source %s", len(rec.Series), rec.Source)
			}
			if mode == "dry-run" && !strings.HasPrefix(rec.Reason, "critical finding: port-exhaustion") {
				t.Errorf("reason %q", rec.Reason)
			}
			if mode == "enforce" && !strings.HasPrefix(rec.Reason, "change applied: ") {
				t.Errorf("reason %q", rec.Reason)
			}
			j, err := judge.Replay(rec.Series[0], a.set, -1)
			if err != nil {
				t.Fatal(err)
			}
			replayed := want.Build(j.Last, j.Recs)
			if !reflectEqualJSON(t, j.Findings, a.own.findings) {
				t.Error("replayed findings differ from the agent's")
			}
			// What the agent logged: each change it proposed or applied.
			var logged []string
			for _, e := range log.events {
				if e.Kind == systemd.EventRecommendation || e.Kind == systemd.EventChangeApplied {
					if k := e.Fields[systemd.FieldKey]; k != "" {
						logged = append(logged, k+"="+e.Fields[systemd.FieldNewValue])
					}
				}
			}
			var got []string
			for _, c := range replayed.Changes {
				got = append(got, c.Key+"="+c.To)
			}
			if len(got) == 0 || strings.Join(got, " ") != strings.Join(logged, " ") || replayed.Level != advisor.SeverityCritical {
				t.Errorf("replayed plan %v (level %s), the agent logged %v", got, replayed.Level, logged)
			}
		})
	}
}

// reflectEqualJSON compares two values by their JSON.
func reflectEqualJSON(t *testing.T, a, b any) bool {
	t.Helper()
	x, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if string(x) != string(y) {
		t.Logf("got  %s\nwant %s", x, y)
		return false
	}
	return true
}

// TestOneRecordingPerTick: a critical finding that starts in the tick that
// applies its change writes one recording, named by every entry.
func TestOneRecordingPerTick(t *testing.T) {
	a, obs, log, _, _ := setup(t, "enforce", "")
	a.cfg.FlightRecorder = time.Minute
	a.fly(a.own)
	obs.inUse = 990
	a.Tick()
	files, _ := filepath.Glob(filepath.Join(a.own.flight.Dir, "recordings", "*"))
	if len(files) != 1 || !strings.HasSuffix(files[0], "-critical.json.gz") {
		t.Fatalf("recordings %v, want one for the critical finding", files)
	}
	applied := 0
	for _, e := range log.events {
		if e.Kind == systemd.EventChangeApplied {
			applied++
			if e.Fields[systemd.FieldRecording] != files[0] {
				t.Errorf("change_applied names %q, want %s", e.Fields[systemd.FieldRecording], files[0])
			}
		}
	}
	if applied == 0 {
		t.Error("nothing applied")
	}
}

// TestEscalationNamesTheRecording: advice announced as a warning is
// announced again when it turns critical, and that entry names the flight
// recording the critical finding wrote.
func TestEscalationNamesTheRecording(t *testing.T) {
	dir := t.TempDir()
	policy := `rule "probe" {
  severity = worst.utilization >= 0.85 ? "critical" : "warning"
  when     = worst.known && worst.utilization >= 0.5
  message  = "destination at ${percent(worst.utilization)}"
}
`
	if err := os.WriteFile(filepath.Join(dir, "10-probe.hcl"), []byte(policy), 0o644); err != nil {
		t.Fatal(err)
	}
	a, obs, log, _, _ := setup(t, "dry-run", dir)
	a.cfg.FlightRecorder = time.Minute
	a.fly(a.own)
	var probes []systemd.Event
	tick := func(inUse int) {
		obs.inUse = inUse
		a.Tick()
		probes = probes[:0]
		for _, e := range log.events {
			if e.Kind == systemd.EventRecommendation && e.Fields[systemd.FieldRule] == "probe" {
				probes = append(probes, e)
			}
		}
	}
	tick(600)
	tick(610)
	if len(probes) != 1 || probes[0].Fields[systemd.FieldRecording] != "" {
		t.Fatalf("warning: %d entries %v, want one without a recording", len(probes), probes)
	}
	tick(900)
	if len(probes) != 2 || !strings.HasSuffix(probes[1].Fields[systemd.FieldRecording], "-critical.json.gz") {
		t.Fatalf("critical: entries %v, want a second naming the recording", probes)
	}
	tick(910)
	if len(probes) != 2 {
		t.Errorf("critical again: %d entries, want no new one", len(probes))
	}
}
