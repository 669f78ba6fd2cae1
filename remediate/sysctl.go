package remediate

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	sysctl "github.com/lorenzosaino/go-sysctl"
	"github.com/tcp-advisor/tcp-advisor/advisor"
)

// Sysctls reads and writes sysctls below a root (normally /proc/sys).
type Sysctls struct {
	root   string
	client *sysctl.Client
	ns     Namespace // nil: the calling process's namespace
}

// NewSysctls returns a reader and writer for the tree at root.
func NewSysctls(root string) (*Sysctls, error) {
	c, err := sysctl.NewClient(root)
	if err != nil {
		return nil, err
	}
	return &Sysctls{root: root, client: c}, nil
}

func (s *Sysctls) get(key string) (string, error) {
	v, err := s.client.Get(key)
	if err != nil {
		return "", err
	}
	return advisor.NormalizeValue(v), nil
}

// set refuses keys that do not exist: against a plain directory tree
// go-sysctl would create them silently.
func (s *Sysctls) set(key, value string) error {
	path := filepath.Join(s.root, strings.ReplaceAll(key, ".", "/"))
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("sysctl %s does not exist here", key)
	}
	// A write of zero bytes never reaches the kernel; an empty list (no
	// reserved ports) is written as a lone newline, as sysctl(8) does.
	raw := value
	if raw == "" {
		raw = "\n"
	}
	if err := s.client.Set(key, raw); err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	got, err := s.get(key)
	if err != nil {
		return fmt.Errorf("read back %s: %w", key, err)
	}
	if got != advisor.NormalizeValue(value) {
		return fmt.Errorf("read back %s: wrote %q, kernel has %q", key, value, got)
	}
	return nil
}
