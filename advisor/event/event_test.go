package event

import (
	"errors"
	"reflect"
	"testing"
)

// recorder is a sink that keeps what it receives.
type recorder struct{ got []Event }

func (r *recorder) Emit(e Event) { r.got = append(r.got, e) }

func TestFanout(t *testing.T) {
	applied := ChangeApplied{Change: Change{Rule: "r", Key: "net.ipv4.tcp_tw_reuse", From: "2", To: "1"}}
	failed := ChangeFailed{Change: applied.Change, Err: errors.New("EPERM")}
	refused := ChangeRefused{Change: applied.Change, Guardrail: "cooldown", Repeated: true}
	fired := RuleFired{Rule: "r", Severity: "warning"}
	tests := []struct {
		name    string
		sinks   int  // recorders in the fan-out
		withNil bool // a nil sink among them
		events  []Event
	}{
		{name: "no sinks", sinks: 0, events: []Event{applied}},
		{name: "one sink gets each event in order", sinks: 1, events: []Event{applied, failed, refused, fired}},
		{name: "every sink gets every event", sinks: 3, events: []Event{fired, applied}},
		{name: "a nil sink is skipped", sinks: 2, withNil: true, events: []Event{refused, failed}},
		{name: "no events", sinks: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var fan Fanout
			var recs []*recorder
			for i := 0; i < tt.sinks; i++ {
				r := &recorder{}
				recs = append(recs, r)
				fan = append(fan, r)
				if tt.withNil && i == 0 {
					fan = append(fan, nil)
				}
			}
			for _, e := range tt.events {
				fan.Emit(e)
			}
			for i, r := range recs {
				if !reflect.DeepEqual(r.got, tt.events) {
					t.Errorf("sink %d got %v, want %v", i, r.got, tt.events)
				}
			}
		})
	}
}

func TestSinkFunc(t *testing.T) {
	var got []Event
	var sink Sink = SinkFunc(func(e Event) { got = append(got, e) })
	sink.Emit(RuleFired{Rule: "r"})
	if want := []Event{RuleFired{Rule: "r"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
