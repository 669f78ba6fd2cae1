package sysctl

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	gosysctl "github.com/lorenzosaino/go-sysctl"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/advisor/netns"
)

// Tree reads and writes sysctls below a root (normally /proc/sys).
type Tree struct {
	root   string
	client *gosysctl.Client
	ns     netns.Enterer // nil: the calling process's namespace
}

// New returns a reader and writer for the tree at root.
func New(root string) (*Tree, error) {
	c, err := gosysctl.NewClient(root)
	if err != nil {
		return nil, err
	}
	return &Tree{root: root, client: c}, nil
}

func (s *Tree) get(key string) (string, error) {
	v, err := s.client.Get(key)
	if err != nil {
		return "", err
	}
	return advisor.NormalizeValue(v), nil
}

// ReadAll reads every registered sysctl. A key the kernel lacks — one added
// by a later release, or a global key read inside a network namespace other
// than the initial one — is left out; any other failure to read is an
// error.
func (s *Tree) ReadAll() (advisor.Sysctls, error) {
	raw := make(map[string]string)
	err := s.do(func() error {
		for _, k := range advisor.Registry() {
			v, err := s.get(k.Name)
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) && (k.Since != "" || k.Scope == advisor.Global) {
					continue
				}
				return fmt.Errorf("sysctl %s: %w", k.Name, err)
			}
			raw[k.Name] = v
		}
		return nil
	})
	if err != nil {
		return advisor.Sysctls{}, err
	}
	return advisor.NewSysctls(raw)
}

// path returns the file of key below the root.
func (s *Tree) path(key string) string {
	return filepath.Join(s.root, strings.ReplaceAll(key, ".", "/"))
}

// set writes a key and reads it back (Set wraps it for another network
// namespace). It writes only keys the registry marks settable
// (advisor.CheckSettable), whatever asks, and refuses keys that do not
// exist: the file is opened without O_CREAT (against a plain directory tree
// a create would invent the key) and without following a symlink. A value
// the kernel refuses, or reads back differently, is a *WriteError.
func (s *Tree) set(key, value string) error {
	if err := advisor.CheckSettable(key); err != nil {
		return &WriteError{Key: key, Value: value, Err: err}
	}
	path := s.path(key)
	// A write of zero bytes never reaches the kernel; an empty list (no
	// reserved ports) is written as a lone newline, as sysctl(8) does.
	raw := value
	if raw == "" {
		raw = "\n"
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC|unix.O_NOFOLLOW, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return &WriteError{Key: key, Value: value, Err: errors.New("no such sysctl here")}
	}
	if err != nil {
		return &WriteError{Key: key, Value: value, Err: err}
	}
	_, err = f.WriteString(raw)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return &WriteError{Key: key, Value: value, Err: err}
	}
	got, err := s.get(key)
	if err != nil {
		return fmt.Errorf("read back %s: %w", key, err)
	}
	if got != advisor.NormalizeValue(value) {
		return &WriteError{Key: key, Value: value, Err: fmt.Errorf("read back %q", got)}
	}
	return nil
}

// WriteError is a sysctl write that did not take: refused by the kernel
// (EINVAL for a value it rejects), by permissions (EACCES, EPERM), by a
// read-only /proc/sys (EROFS), or read back different.
type WriteError struct {
	Key, Value string
	Err        error
}

func (e *WriteError) Error() string {
	msg := e.Err.Error()
	var pe *fs.PathError
	if errors.As(e.Err, &pe) {
		msg = pe.Err.Error() // the path is the key's
	}
	if n := e.Errno(); n != "" {
		msg = n + " (" + msg + ")"
	}
	return fmt.Sprintf("write %s = %q: %s", e.Key, e.Value, msg)
}

// Unwrap returns the underlying error.
func (e *WriteError) Unwrap() error { return e.Err }

// Errno is the errno's name ("EINVAL"), or "" when the write failed for
// another reason.
func (e *WriteError) Errno() string {
	var errno syscall.Errno
	if errors.As(e.Err, &errno) {
		return unix.ErrnoName(errno)
	}
	return ""
}
