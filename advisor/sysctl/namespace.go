package sysctl

import "github.com/tcp-advisor/tcp-advisor/advisor/netns"

// NewIn returns a reader and writer for the sysctls of the network
// namespace ns, through the tree at root (the real /proc/sys). A Set writes
// and reads back inside ns, in one visit.
func NewIn(ns netns.Enterer, root string) (*Tree, error) {
	s, err := New(root)
	if err != nil {
		return nil, err
	}
	s.ns = ns
	return s, nil
}

// Get returns a key's value, whitespace-normalized.
func (s *Tree) Get(key string) (string, error) {
	var v string
	err := s.do(func() error {
		var err error
		v, err = s.get(key)
		return err
	})
	return v, err
}

// Set writes a key and reads it back. It refuses keys that do not exist.
func (s *Tree) Set(key, value string) error {
	return s.do(func() error { return s.set(key, value) })
}

// do runs fn in the tree's network namespace: the calling process's, or
// inside ns for the whole call.
func (s *Tree) do(fn func() error) error {
	if s.ns == nil {
		return fn()
	}
	return s.ns.Do(fn)
}
