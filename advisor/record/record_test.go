package record

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tcp-advisor/tcp-advisor/advisor"
)

var t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

// series returns n frames a second apart of a host whose connections to
// 10.0.0.2:8080 grow by 100 a second, with a CLOSE_WAIT leak held by a
// python3 process in app.service; every third frame is a detail frame.
func series(n int) Series {
	sys := advisor.MustSysctls(map[string]string{
		advisor.KeyPortRange: "40000 40999", advisor.KeyReservedPorts: "", advisor.KeyTwReuse: "0",
		advisor.KeyFinTimeout: "60", advisor.KeyTimestamps: "1",
	})
	dest := advisor.DestKey{Local: netip.MustParseAddr("10.0.0.1"), Remote: netip.MustParseAddrPort("10.0.0.2:8080")}
	loop := advisor.DestKey{Local: netip.MustParseAddr("127.0.0.1"), Remote: netip.MustParseAddrPort("127.0.0.1:9000")}
	owner := advisor.Owner{PID: 42, Command: "python3", Unit: "app.service", FDs: 300, FDLimit: 1024}
	s := Series{Netns: advisor.Netns{Inode: 4026531840, Name: "lb"}, Host: true, Window: AgentWindow}
	for i := range n {
		var states advisor.StateCounts
		states[advisor.TimeWait] = 100 * (i + 1)
		states[advisor.CloseWait] = 2 + i
		sum := &advisor.SocketSummary{
			Dumped: advisor.StatesOf(advisor.AllStates()...), States: states, Ephemeral: states,
			PerDestination: map[advisor.DestKey]advisor.DestCount{
				dest: {InUse: 100*(i+1) + 5, TimeWait: 100 * (i + 1), TimeWaitRecent: 500, TimeWaitYoung: 100},
				loop: {InUse: 10, TimeWait: 10, TimeWaitYoung: 1, Inodes: [advisor.SampledInodes]uint32{7}},
			},
			DestOwners: map[advisor.DestKey][]advisor.Owner{dest: {{PID: 7, Command: "nginx", Unit: "nginx.service"}}},
			BySource:   map[netip.Addr]int{dest.Local: 100*(i+1) + 5, loop.Local: 10},
			UDPPorts:   advisor.PortSet{{Low: 41500, High: 41500}},
			Listeners:  []advisor.DetailedSocket{{ID: advisor.SocketID{Local: netip.MustParseAddrPort("0.0.0.0:8000")}, State: advisor.Listen, SendQ: 128, Owner: &owner}},
			Queued:     advisor.Backlog{RecvQSockets: 1, RecvQBytes: 10},
		}
		for j := range 2 + i {
			o := owner
			sum.CloseWait = append(sum.CloseWait, advisor.DetailedSocket{
				ID:    advisor.SocketID{Local: netip.MustParseAddrPort("10.0.0.1:8000"), Remote: netip.AddrPortFrom(netip.MustParseAddr(fmt.Sprintf("2001:db9::%d", j+1)), 5000), Cookie: uint64(j + 1)},
				State: advisor.CloseWait, RecvQ: 1, Inode: uint32(100 + j), Owner: &o,
			})
		}
		at := t0.Add(time.Duration(i) * time.Second)
		snap := advisor.Snapshot{Time: at, Sysctls: sys,
			Counters: advisor.Counters{TCPInUse: 20, TimeWait: 100 * (i + 1), ActiveOpens: float64(100 * i)}, Sockets: sum,
			Events: &advisor.ConnEvents{Since: at.Add(-time.Second), Until: at, Totals: advisor.ConnTotals{Opens: 30, Failures: 5, ActiveCloses: 20, Retries: 2},
				Flows: []advisor.ConnFlow{
					{PID: 7, Command: "nginx", Unit: "nginx.service", CgroupID: 99, Local: dest.Local, Remote: dest.Remote,
						ConnTotals: advisor.ConnTotals{Opens: 30, Failures: 5, ActiveCloses: 10, Retries: 2}},
					{PID: 7, Command: "nginx", Unit: "nginx.service", CgroupID: 99, Local: netip.MustParseAddr("10.0.0.1"), LocalPort: 8000,
						ConnTotals: advisor.ConnTotals{ActiveCloses: 10}},
				}}}
		s.Frames = append(s.Frames, Frame{Detail: i%3 == 0, Snapshot: snap})
	}
	return s
}

func recording(n int) *Recording {
	r := New("record", t0.Add(time.Hour))
	r.Host = "lb1.example.com"
	r.Series = append(r.Series, series(n))
	return r
}

func encode(t *testing.T, r *Recording) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, r); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestRoundTrip(t *testing.T) {
	want := recording(5)
	got, err := Read(bytes.NewReader(encode(t, want)))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		a, _ := json.Marshal(got)
		b, _ := json.Marshal(want)
		t.Errorf("read back differs:\n got %s\nwant %s", a, b)
	}
}

func TestReadRefuses(t *testing.T) {
	newer := recording(1)
	newer.Version = Version + 1
	plain, _ := json.Marshal(newer)
	cases := []struct {
		name, data, want string
	}{
		{"not JSON", "hello", "not a tcp-advisor recording"},
		{"another format", `{"format":"x","version":1}`, `format "x"`},
		{"newer version", string(plain), "a newer tcp-advisor"},
		{"unknown state", strings.Replace(string(mustJSON(t, recording(1))), `"TIME_WAIT"`, `"TIME_WAITING"`, 1), `unknown TCP state "TIME_WAITING"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(strings.NewReader(tc.data))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}

func mustJSON(t *testing.T, r *Recording) []byte {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// update rewrites testdata/recording.json, the sample recording the
// packaging module's tests validate against the shipped schema.
var update = flag.Bool("update", false, "rewrite testdata/recording.json")

// TestSampleRecording keeps testdata/recording.json the recording of
// recording(3): the packaging module validates what Write makes of it, and
// of its redaction, against recording.schema.json (packaging/recording_schema_test.go).
func TestSampleRecording(t *testing.T) {
	want, err := json.MarshalIndent(recording(3), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, '\n')
	const path = "testdata/recording.json"
	if *update {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is not the sample recording: run go test ./advisor/record -run SampleRecording -update", path)
	}
}

func TestAt(t *testing.T) {
	s := series(5) // frames at 0s..4s
	cases := []struct {
		at   time.Duration
		want int
		err  string
	}{
		{-1, 4, ""}, {0, 0, ""}, {1500 * time.Millisecond, 1, ""}, {4 * time.Second, 4, ""},
		{5 * time.Second, 0, "past the recording's end"},
	}
	for _, tc := range cases {
		got, err := s.At(tc.at)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("At(%s): error %v, want %q", tc.at, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("At(%s) = %d, %v; want %d", tc.at, got, err, tc.want)
		}
	}
}

// TestReplayIsTheLiveJudgement: the findings a replay draws at each frame
// are those of a History fed the same frames as they came, as the agent
// feeds its own.
func TestReplayIsTheLiveJudgement(t *testing.T) {
	s := series(9)
	rec, err := Read(bytes.NewReader(encode(t, &Recording{Format: FormatName, Version: Version, Series: []Series{s}})))
	if err != nil {
		t.Fatal(err)
	}
	live := advisor.History{Recent: advisor.AgentRecent, Details: advisor.AgentDetails}
	for i, f := range s.Frames {
		live.Add(f.Snapshot, f.Detail)
		want := live.Analyze()
		_, got, err := rec.Series[0].Replay(f.Snapshot.Time.Sub(s.Start()))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("frame %d: replayed findings differ from the live ones", i)
		}
	}
	_, f, _ := rec.Series[0].Replay(-1)
	if f.CloseWait.Stuck == nil || *f.CloseWait.Stuck != 2 || f.Worst == nil || f.Worst.GrowthPerSecond == nil {
		t.Errorf("the window is not the agent's: stuck %v, worst %+v", f.CloseWait.Stuck, f.Worst)
	}
}

func TestRedact(t *testing.T) {
	orig := recording(6)
	red := recording(6)
	red.Redact()
	data := string(mustJSON(t, red))
	for _, secret := range []string{"10.0.0.", "2001:db9", "python3", "nginx", "app.service", "lb1.example.com", `"lb"`} {
		if strings.Contains(data, secret) {
			t.Errorf("redacted recording still holds %q", secret)
		}
	}
	for _, kept := range []string{"127.0.0.1:9000", "0.0.0.0:8000", "198.18.0.1", "2001:db8::1", "process-1", ".service"} {
		if !strings.Contains(data, kept) {
			t.Errorf("redacted recording lacks %q", kept)
		}
	}
	// The same judgement, on stand-ins.
	_, want, _ := orig.Series[0].Replay(-1)
	_, got, _ := red.Series[0].Replay(-1)
	if got.Worst.Remote != "198.18.0.2:8080" || got.Worst.Utilization != want.Worst.Utilization {
		t.Errorf("worst destination %+v, want %+v on a stand-in", got.Worst, want.Worst)
	}
	if *got.CloseWait.Stuck != *want.CloseWait.Stuck || got.CloseWait.Pattern != want.CloseWait.Pattern || !strings.HasPrefix(got.CloseWait.ByOwner[0].Command, "process-") {
		t.Errorf("CLOSE_WAIT %+v, want %+v with a process stand-in", got.CloseWait, want.CloseWait)
	}
	if got.Destinations[1].Loopback != true || got.Destinations[1].ReuseInEffect != want.Destinations[1].ReuseInEffect {
		t.Errorf("loopback destination changed: %+v", got.Destinations[1])
	}
}

func TestFlightRecorder(t *testing.T) {
	dir := t.TempDir()
	s := series(3)
	frame := s.Frames[2]
	line, _ := json.Marshal(frame)
	size := len(line) + 1
	// Room for 64 lines: each segment holds 32, more than the 31 frames
	// that 30 seconds hold.
	f := NewFlight(dir, 30*time.Second, int64(64*size), advisor.Netns{Inode: 1}, true)
	f.Recordings = 2
	for i := range 200 {
		fr := frame
		fr.Snapshot.Time = t0.Add(time.Duration(i) * time.Second)
		if err := f.Add(fr); err != nil {
			t.Fatal(err)
		}
	}
	var total int64
	for _, name := range []string{"frames.jsonl", "frames.jsonl.1"} {
		fi, err := os.Stat(filepath.Join(f.Dir, name))
		if err != nil {
			t.Fatal(err)
		}
		total += fi.Size()
	}
	if total > f.MaxBytes+int64(size) {
		t.Errorf("segments hold %d bytes, bound %d", total, f.MaxBytes)
	}
	now := t0.Add(199 * time.Second)
	var paths []string
	for i := range 3 {
		p, err := f.Dump("critical finding: port-exhaustion", "host", now.Add(time.Duration(i)*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
		if i > 0 {
			continue
		}
		rec, err := ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		fr := rec.Series[0].Frames
		if len(fr) != 31 || fr[0].Snapshot.Time != now.Add(-30*time.Second) || rec.Reason != "critical finding: port-exhaustion" || rec.Source != "agent" {
			t.Errorf("recording: %d frames from %v, reason %q", len(fr), fr[0].Snapshot.Time, rec.Reason)
		}
		if !strings.HasSuffix(p, "-critical.json.gz") {
			t.Errorf("recording named %s", p)
		}
	}
	left, _ := filepath.Glob(filepath.Join(f.Dir, "recordings", "*.json.gz"))
	if len(left) != 2 || left[0] != paths[1] {
		t.Errorf("kept %v, want the last two", left)
	}
}

// TestFlightRecorderKeepsTwoKeeps: a quiet namespace's segments hold no
// more than about twice Keep of frames, however much room MaxBytes leaves.
func TestFlightRecorderKeepsTwoKeeps(t *testing.T) {
	f := NewFlight(t.TempDir(), 10*time.Second, 64<<20, advisor.Netns{Inode: 1}, true)
	frame := series(1).Frames[0]
	for i := range 100 {
		fr := frame
		fr.Snapshot.Time = t0.Add(time.Duration(i) * time.Second)
		if err := f.Add(fr); err != nil {
			t.Fatal(err)
		}
	}
	lines := 0
	for _, name := range []string{"frames.jsonl", "frames.jsonl.1"} {
		data, err := os.ReadFile(filepath.Join(f.Dir, name))
		if err != nil {
			t.Fatal(err)
		}
		lines += strings.Count(string(data), "\n")
	}
	if lines > 22 {
		t.Errorf("segments hold %d frames of a 10 s keep at one a second", lines)
	}
	frames, err := f.Frames(t0.Add(99 * time.Second))
	if err != nil || len(frames) != 11 {
		t.Errorf("%d frames within the keep (%v), want 11", len(frames), err)
	}
}

// TestEveryFieldIsRecorded: a field the analysis may read reaches the
// recording. Fields with a JSON name flow through as the advisor package
// marshals them; a field kept out of the snapshot's JSON must be one
// frame.go writes itself, so that a new one fails here rather than vanish
// from replays.
func TestEveryFieldIsRecorded(t *testing.T) {
	written := map[string]bool{"Dumped": true, "States": true, "Ephemeral": true, "PerDestination": true, "DestOwners": true}
	for _, typ := range []reflect.Type{reflect.TypeFor[advisor.Snapshot](), reflect.TypeFor[advisor.SocketSummary](),
		reflect.TypeFor[advisor.DestCount](), reflect.TypeFor[advisor.Counters](), reflect.TypeFor[advisor.DetailedSocket](), reflect.TypeFor[advisor.Owner]()} {
		for f := range typ.Fields() {
			if !f.IsExported() {
				continue
			}
			if tag := f.Tag.Get("json"); (tag == "-" || tag == "") && !written[f.Name] {
				t.Errorf("%s.%s has no JSON name and frame.go does not write it: a recording would lose it", typ.Name(), f.Name)
			}
		}
	}
}

// TestReadWithoutRetries: a recording made before immediate retries were
// counted has no connect_retries; it reads as 0 retries, the rest as written.
func TestReadWithoutRetries(t *testing.T) {
	data := mustJSON(t, recording(1))
	old := strings.ReplaceAll(string(data), `,"connect_retries":2`, "")
	if old == string(data) {
		t.Fatal("the recording has no connect_retries to leave out")
	}
	got, err := Read(strings.NewReader(old))
	if err != nil {
		t.Fatal(err)
	}
	ev := got.Series[0].Frames[0].Snapshot.Events
	if ev.Totals != (advisor.ConnTotals{Opens: 30, Failures: 5, ActiveCloses: 20}) || ev.Flows[0].Retries != 0 {
		t.Errorf("events %+v", ev)
	}
}
