package record

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"slices"

	"github.com/tcp-advisor/tcp-advisor/advisor"
)

// frameJSON is a frame as written: the snapshot's own JSON, with the socket
// summary's unexported-to-JSON fields spelt out.
type frameJSON struct {
	Detail   bool         `json:"detail"`
	Snapshot snapshotJSON `json:"snapshot"`
}

// snapshotJSON embeds the snapshot, so that every field it marshals flows
// through; Sockets shadows the snapshot's own.
type snapshotJSON struct {
	*advisor.Snapshot
	Sockets *socketsJSON `json:"sockets,omitempty"`
}

// socketsJSON embeds the summary for the same reason and adds the fields
// the summary leaves out of its JSON.
type socketsJSON struct {
	*advisor.SocketSummary
	Dumped         []string          `json:"dumped"`
	States         map[string]int    `json:"states"`
	Ephemeral      map[string]int    `json:"ephemeral"`
	PerDestination []destinationJSON `json:"per_destination"`
	DestOwners     []ownersJSON      `json:"dest_owners,omitempty"`
}

// destinationJSON is one destination's counts.
type destinationJSON struct {
	Local  netip.Addr     `json:"local"`
	Remote netip.AddrPort `json:"remote"`
	advisor.DestCount
}

// ownersJSON is the owners of one destination's sampled sockets.
type ownersJSON struct {
	Local  netip.Addr      `json:"local"`
	Remote netip.AddrPort  `json:"remote"`
	Owners []advisor.Owner `json:"owners"`
}

// MarshalJSON writes the frame in the recording format.
func (f Frame) MarshalJSON() ([]byte, error) {
	snap := f.Snapshot
	out := frameJSON{Detail: f.Detail, Snapshot: snapshotJSON{Snapshot: &snap}}
	if sum := snap.Sockets; sum != nil {
		s := &socketsJSON{SocketSummary: sum, Dumped: []string{}, States: stateMap(sum.States),
			Ephemeral: stateMap(sum.Ephemeral), PerDestination: []destinationJSON{}}
		for _, st := range advisor.AllStates() {
			if sum.Dumped.Has(st) {
				s.Dumped = append(s.Dumped, st.String())
			}
		}
		for _, k := range sortedKeys(sum.PerDestination) {
			s.PerDestination = append(s.PerDestination, destinationJSON{k.Local, k.Remote, sum.PerDestination[k]})
		}
		for _, k := range sortedKeys(sum.DestOwners) {
			s.DestOwners = append(s.DestOwners, ownersJSON{k.Local, k.Remote, sum.DestOwners[k]})
		}
		out.Snapshot.Sockets = s
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads a frame in the recording format.
func (f *Frame) UnmarshalJSON(b []byte) error {
	in := frameJSON{Snapshot: snapshotJSON{Snapshot: &advisor.Snapshot{}}}
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	snap := *in.Snapshot.Snapshot
	snap.Sockets = nil
	if s := in.Snapshot.Sockets; s != nil {
		sum := advisor.SocketSummary{}
		if s.SocketSummary != nil {
			sum = *s.SocketSummary
		}
		var err error
		if sum.Dumped, err = stateSet(s.Dumped); err != nil {
			return err
		}
		if sum.States, err = stateCounts(s.States); err != nil {
			return err
		}
		if sum.Ephemeral, err = stateCounts(s.Ephemeral); err != nil {
			return err
		}
		sum.PerDestination = make(map[advisor.DestKey]advisor.DestCount, len(s.PerDestination))
		for _, d := range s.PerDestination {
			sum.PerDestination[advisor.DestKey{Local: d.Local, Remote: d.Remote}] = d.DestCount
		}
		if len(s.DestOwners) > 0 {
			sum.DestOwners = make(map[advisor.DestKey][]advisor.Owner, len(s.DestOwners))
			for _, o := range s.DestOwners {
				sum.DestOwners[advisor.DestKey{Local: o.Local, Remote: o.Remote}] = o.Owners
			}
		}
		snap.Sockets = &sum
	}
	*f = Frame{Detail: in.Detail, Snapshot: snap}
	return nil
}

func stateMap(c advisor.StateCounts) map[string]int { return c.Map() }

// stateByName maps the kernel's state names to states.
var stateByName = func() map[string]advisor.TCPState {
	out := map[string]advisor.TCPState{}
	for _, s := range advisor.AllStates() {
		out[s.String()] = s
	}
	return out
}()

func parseState(name string) (advisor.TCPState, error) {
	s, ok := stateByName[name]
	if !ok {
		return 0, fmt.Errorf("unknown TCP state %q", name)
	}
	return s, nil
}

func stateSet(names []string) (advisor.StateSet, error) {
	var out advisor.StateSet
	for _, n := range names {
		s, err := parseState(n)
		if err != nil {
			return 0, err
		}
		out |= advisor.StatesOf(s)
	}
	return out, nil
}

func stateCounts(m map[string]int) (advisor.StateCounts, error) {
	var out advisor.StateCounts
	for n, v := range m {
		s, err := parseState(n)
		if err != nil {
			return out, err
		}
		out[s] = v
	}
	return out, nil
}

// sortedKeys orders destinations by remote, then local address, so that a
// recording is the same bytes for the same observation.
func sortedKeys[V any](m map[advisor.DestKey]V) []advisor.DestKey {
	return slices.SortedFunc(maps.Keys(m), func(a, b advisor.DestKey) int {
		return cmp.Or(a.Remote.Compare(b.Remote), a.Local.Compare(b.Local))
	})
}
