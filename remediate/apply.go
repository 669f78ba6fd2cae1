package remediate

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/advisor/sysctl"
)

// Applied is one change written and read back.
type Applied struct {
	Change
	Time time.Time
}

// Failure is a group of changes that was not applied, whole, or (when Err
// is an *AppliedError) was applied but not fully recorded.
type Failure struct {
	Changes []Change
	Err     error
}

// Released is a key someone else changed: tcp-advisor stopped managing it.
type Released struct {
	Key, Expected, Found string
}

// Rollback is one key restored to its original value.
type Rollback struct {
	Key, From, To string
}

// Applier writes plans to the kernel and keeps the state store and the
// drop-in up to date.
type Applier struct {
	Sysctls *sysctl.Tree
	Store   *Store
	Persist Persister
	Now     func() time.Time
}

// applyOrder sorts keys so that reserved ports come before the port range:
// a wider range is never live before the ports it must not hand out are
// reserved.
func applyOrder(keys []string) []string {
	rank := func(k string) int {
		switch k {
		case advisor.KeyReservedPorts:
			return 0
		case advisor.KeyPortRange:
			return 2
		}
		return 1
	}
	out := slices.Clone(keys)
	slices.SortStableFunc(out, func(a, b string) int { return rank(a) - rank(b) })
	return out
}

// ReleaseChangedKeys compares each managed key's live value with what
// tcp-advisor last wrote; a key someone else changed is released: its value
// is kept and tcp-advisor stops managing it. The state is saved when
// anything changed.
func (a *Applier) ReleaseChangedKeys(st *State) ([]Released, error) {
	return a.ReleaseChangedKeysIn(st, advisor.Sysctls{})
}

// ReleaseChangedKeysIn is ReleaseChangedKeys with live values already
// read (a snapshot's sysctls); keys missing from live are read.
// The check runs under the state's lock on the state as it is on disk:
// keys another process rolled back are no longer managed, and when that
// process wrote anything since live was read, every value is read again.
func (a *Applier) ReleaseChangedKeysIn(st *State, live advisor.Sysctls) ([]Released, error) {
	// Reading needs no lock (the file is replaced whole); a state that
	// manages nothing needs no more.
	refreshed, err := a.Store.Refresh(st)
	if err != nil || !st.anyActive() {
		return nil, err
	}
	again, unlock, err := a.Store.Lock(st)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if refreshed || again {
		live = advisor.Sysctls{}
	}
	var out []Released
	now := a.Now()
	for _, key := range st.Keys() {
		m := st.Managed[key]
		if m.Released {
			continue
		}
		value, ok := live.Value(key)
		if !ok {
			var err error
			if value, err = a.Sysctls.Get(key); err != nil {
				return out, err
			}
		}
		switch value {
		case m.LastWritten:
			m.Pending = ""
			continue
		case m.Pending:
			// A crash came between the write and the state update.
			m.LastWritten, m.Pending, m.LastChange = value, "", now
			continue
		}
		m.Released, m.ReleasedAt = true, now
		m.ReleasedReason = fmt.Sprintf("live value %q differs from %q, the value tcp-advisor wrote", value, m.LastWritten)
		st.History = append(st.History, Record{Time: now, Action: ActionRelease, Key: key, From: m.LastWritten, To: value, Reason: m.ReleasedReason})
		out = append(out, Released{Key: key, Expected: m.LastWritten, Found: value})
	}
	if len(out) > 0 {
		if err := a.Store.Save(st); err != nil {
			return out, err
		}
		return out, a.Persist.Sync(st, now)
	}
	return out, nil
}

// Apply writes the plan's groups in order. Each group applies whole or not
// at all: before its first write every key's original value is recorded,
// and if a write or read-back fails, the keys already written are restored.
// A group whose live values no longer match the plan's is skipped.
func (a *Applier) Apply(st *State, plan Plan) ([]Applied, []Failure) {
	var applied []Applied
	var failed []Failure
	for _, group := range plan.Groups() {
		done, err := a.applyGroup(st, group)
		applied = append(applied, done...)
		if err != nil {
			failed = append(failed, Failure{Changes: group, Err: err})
		}
	}
	return applied, failed
}

func (a *Applier) applyGroup(st *State, group []Change) (_ []Applied, err error) {
	// The whole group, from recording the originals to recording the new
	// values, is one read-modify-write of the state under its lock. A
	// state another process wrote since the plan was made (a rollback, an
	// apply) may change what the guard allows: plan again.
	refreshed, unlock, err := a.Store.Lock(st)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if refreshed {
		return nil, fmt.Errorf("%w since the plan was made; nothing applied, the next plan starts from it", ErrStateChanged)
	}
	now := a.Now()
	// Keys this group starts managing are forgotten again if it fails and
	// every key it wrote was restored; otherwise the record stays, so the
	// original value is never lost.
	var added []string
	keep := false
	defer func() {
		if err == nil || keep {
			return
		}
		for _, c := range group {
			if m, ok := st.Managed[c.Key]; ok {
				m.Pending = ""
			}
		}
		for _, k := range added {
			delete(st.Managed, k)
		}
		if serr := a.Store.Save(st); serr != nil {
			err = errors.Join(err, serr)
		}
	}()
	if err := a.Persist.check(); err != nil {
		return nil, err
	}
	for _, c := range group {
		live, err := a.Sysctls.Get(c.Key)
		if err != nil {
			return nil, err
		}
		if live != c.From {
			return nil, fmt.Errorf("%s is %q now, not %q as planned; the next tick plans again", c.Key, live, c.From)
		}
		if m, ok := st.Managed[c.Key]; !ok || m.Released {
			st.Managed[c.Key] = &ManagedKey{Original: live, LastWritten: live}
			added = append(added, c.Key)
		}
		st.Managed[c.Key].Pending = c.To
	}
	// Originals and pending values reach the disk before the kernel changes.
	if err := a.Store.Save(st); err != nil {
		return nil, fmt.Errorf("save state before writing: %w", err)
	}
	for i, c := range group {
		if err := a.Sysctls.Set(c.Key, c.To); err != nil {
			// Key i may have been written before its read-back failed:
			// restore it along with the ones before it.
			if rerr := a.restore(group[:i+1]); rerr != nil {
				keep = true
				return nil, errors.Join(err, rerr, errors.New("state keeps the originals: run tcp-advisor rollback"))
			}
			return nil, err
		}
	}
	keep = true
	if a.Persist.Path != "" {
		st.PersistPath = a.Persist.Path
	}
	out := make([]Applied, 0, len(group))
	for _, c := range group {
		m := st.Managed[c.Key]
		m.LastWritten, m.Pending, m.LastChange = c.To, "", now
		if dir := direction(c.Key, c.From, c.To); dir != 0 {
			m.Direction = dir
		}
		st.History = append(st.History, Record{Time: now, Action: ActionApply, Key: c.Key, From: c.From, To: c.To, Rule: c.Rule, Reason: c.Reason})
		out = append(out, Applied{Change: c, Time: now})
	}
	if err := a.Store.Save(st); err != nil {
		return out, &AppliedError{Err: fmt.Errorf("save state: %w", err)}
	}
	if err := a.Persist.Sync(st, now); err != nil {
		return out, &AppliedError{Err: fmt.Errorf("write %s: %w", a.Persist.Path, err)}
	}
	return out, nil
}

// AppliedError reports a failure after the kernel took the new values: the
// change is live, but its record or drop-in may lag.
type AppliedError struct{ Err error }

func (e *AppliedError) Error() string { return "applied, but " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *AppliedError) Unwrap() error { return e.Err }

// restore writes back the previous values of changes that may have been
// written, last first; a key that still holds its previous value (its
// write failed before reaching the kernel) is left alone.
func (a *Applier) restore(written []Change) error {
	var errs []error
	for i := len(written) - 1; i >= 0; i-- {
		c := written[i]
		if live, err := a.Sysctls.Get(c.Key); err == nil && live == c.From {
			continue
		}
		if err := a.Sysctls.Set(c.Key, c.From); err != nil {
			errs = append(errs, fmt.Errorf("restore %s to %q: %w", c.Key, c.From, err))
		}
	}
	return errors.Join(errs...)
}

// Rollback restores the original value of the given keys (all managed keys
// when none are given), the port range before the reserved ports, and stops
// managing them. Keys released after an outside change are restored only
// when named.
//
// It works under the state's lock on the state as it is on disk, which
// replaces st if another process wrote it meanwhile.
func (a *Applier) Rollback(st *State, keys ...string) ([]Rollback, error) {
	_, unlock, err := a.Store.Lock(st)
	if err != nil {
		return nil, err
	}
	defer unlock()
	named := len(keys) > 0
	if !named {
		for _, k := range st.Keys() {
			if !st.Managed[k].Released {
				keys = append(keys, k)
			}
		}
	}
	order := applyOrder(keys)
	slices.Reverse(order)
	now := a.Now()
	var out []Rollback
	var errs []error
	for _, key := range order {
		m, ok := st.Managed[key]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: not managed by tcp-advisor", key))
			continue
		}
		live, err := a.Sysctls.Get(key)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if live != m.Original {
			if err := a.Sysctls.Set(key, m.Original); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		st.History = append(st.History, Record{Time: now, Action: ActionRollback, Key: key, From: live, To: m.Original})
		delete(st.Managed, key)
		out = append(out, Rollback{Key: key, From: live, To: m.Original})
	}
	if err := a.Persist.Sync(st, now); err != nil {
		errs = append(errs, err)
	} else if !st.anyActive() {
		st.PersistPath = "" // Sync removed the drop-in
	}
	if err := a.Store.Save(st); err != nil {
		errs = append(errs, err)
	}
	return out, errors.Join(errs...)
}
