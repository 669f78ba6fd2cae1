package remediate

// Namespace is a network namespace whose sysctls Sysctls can read and
// write, such as one found by package observe/netns. Do must run fn on an OS
// thread inside the namespace for the whole call: /proc/sys/net resolves a
// key in the namespace of the thread that opens it, at open time.
type Namespace interface {
	Do(fn func() error) error
}

// NewSysctlsIn returns a reader and writer for the sysctls of the network
// namespace ns, through the tree at root (the real /proc/sys). A Set writes
// and reads back inside ns, in one visit.
func NewSysctlsIn(ns Namespace, root string) (*Sysctls, error) {
	s, err := NewSysctls(root)
	if err != nil {
		return nil, err
	}
	s.ns = ns
	return s, nil
}

// Get returns a key's value, whitespace-normalized.
func (s *Sysctls) Get(key string) (string, error) {
	var v string
	err := s.do(func() error {
		var err error
		v, err = s.get(key)
		return err
	})
	return v, err
}

// Set writes a key and reads it back. It refuses keys that do not exist.
func (s *Sysctls) Set(key, value string) error {
	return s.do(func() error { return s.set(key, value) })
}

// do runs fn in the Sysctls' network namespace: the calling process's, or
// inside ns for the whole call.
func (s *Sysctls) do(fn func() error) error {
	if s.ns == nil {
		return fn()
	}
	return s.ns.Do(fn)
}
