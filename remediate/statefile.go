package remediate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// CorruptError is a state file that does not parse: torn by a crash on a
// file system that does not order writes, truncated by a full disk, or
// edited by hand. Salvaged holds every managed key (with its original
// value) and history record that could still be read whole before the
// damage, so a rollback can restore what is known.
type CorruptError struct {
	Path     string
	Err      error
	Salvaged *State
}

func (e *CorruptError) Error() string {
	keys := e.Salvaged.Keys()
	salvaged := "no managed key could be read from it"
	if len(keys) > 0 {
		salvaged = fmt.Sprintf("the originals of %d managed key(s) could still be read: %s", len(keys), strings.Join(keys, ", "))
	}
	return fmt.Sprintf("state file %s is corrupt (%v); %s", e.Path, e.Err, salvaged)
}

// Unwrap returns the parse error.
func (e *CorruptError) Unwrap() error { return e.Err }

// VersionError is a state file written by a tcp-advisor newer than this
// one: it is left alone rather than misread.
type VersionError struct {
	Path    string
	Version int
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("state file %s has version %d; this tcp-advisor understands version %d and leaves it alone: run the tcp-advisor that wrote it", e.Path, e.Version, StateVersion)
}

// ParseState decodes a state file's contents; path is only for messages.
// A file without a version is version 1.
func ParseState(path string, b []byte) (*State, error) {
	st := &State{}
	err := json.Unmarshal(b, st)
	if err == nil {
		if st.Version == 0 {
			st.Version = 1
		}
		if st.Version < 0 || st.Version > StateVersion {
			return nil, &VersionError{Path: path, Version: st.Version}
		}
		if st.Managed == nil {
			st.Managed = map[string]*ManagedKey{}
		}
		var check struct {
			Managed map[string]*managedCheck `json:"managed"`
		}
		_ = json.Unmarshal(b, &check)
		for _, k := range st.Keys() {
			if !check.Managed[k].whole() {
				err = fmt.Errorf("managed key %q has no original value", k)
				break
			}
		}
		if err == nil {
			return st, nil
		}
	}
	salvaged, version := salvageState(b)
	if version < 0 || version > StateVersion {
		return nil, &VersionError{Path: path, Version: version}
	}
	return nil, &CorruptError{Path: path, Err: err, Salvaged: salvaged}
}

// salvageState reads a damaged state file as a token stream and keeps each
// managed key and history record that decodes whole, stopping at the first
// damage. It returns the version the file claims (0 if none).
func salvageState(b []byte) (*State, int) {
	st := &State{Version: StateVersion, Managed: map[string]*ManagedKey{}}
	version := 0
	dec := json.NewDecoder(bytes.NewReader(b))
	if !openDelim(dec, '{') {
		return st, version
	}
	for dec.More() {
		name, ok := nextKey(dec)
		if !ok {
			return st, version
		}
		switch name {
		case "version":
			if dec.Decode(&version) != nil {
				return st, version
			}
		case "persist_path":
			if dec.Decode(&st.PersistPath) != nil {
				return st, version
			}
		case "namespace":
			// The namespace the originals belong to: without it a
			// rollback could restore them into another one.
			if dec.Decode(&st.Namespace) != nil {
				return st, version
			}
		case "managed":
			if !openDelim(dec, '{') {
				return st, version
			}
			for dec.More() {
				key, ok := nextKey(dec)
				if !ok {
					return st, version
				}
				var raw json.RawMessage
				if dec.Decode(&raw) != nil {
					return st, version
				}
				var c *managedCheck
				var m ManagedKey
				if json.Unmarshal(raw, &c) == nil && c.whole() && json.Unmarshal(raw, &m) == nil {
					st.Managed[key] = &m
				}
			}
			if _, err := dec.Token(); err != nil {
				return st, version
			}
		case "history":
			if !openDelim(dec, '[') {
				return st, version
			}
			for dec.More() {
				var r Record
				if dec.Decode(&r) != nil {
					return st, version
				}
				st.History = append(st.History, r)
			}
			if _, err := dec.Token(); err != nil {
				return st, version
			}
		default:
			var skip json.RawMessage
			if dec.Decode(&skip) != nil {
				return st, version
			}
		}
	}
	return st, version
}

// managedCheck tells a managed key recorded whole from one without an
// original value: an empty original is a real value (no reserved ports),
// a missing one is damage, and restoring "" for it would be wrong.
type managedCheck struct {
	Original *string `json:"original"`
}

func (c *managedCheck) whole() bool { return c != nil && c.Original != nil }

// openDelim reads the token that opens an object or array, d.
func openDelim(dec *json.Decoder, d json.Delim) bool {
	t, err := dec.Token()
	return err == nil && t == d
}

// nextKey reads an object's next key.
func nextKey(dec *json.Decoder) (string, bool) {
	t, err := dec.Token()
	key, _ := t.(string)
	return key, err == nil
}
