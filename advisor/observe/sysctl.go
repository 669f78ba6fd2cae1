package observe

import (
	"errors"
	"fmt"
	"io/fs"

	sysctl "github.com/lorenzosaino/go-sysctl"

	"github.com/tcp-advisor/tcp-advisor/advisor"
)

// ReadSysctls reads every registered sysctl below root (normally
// /proc/sys). A key the kernel lacks — one added by a later release, or a
// global key read inside a network namespace other than the initial one —
// is left out; any other failure to read is an error.
func ReadSysctls(root string) (advisor.Sysctls, error) {
	c, err := sysctl.NewClient(root)
	if err != nil {
		return advisor.Sysctls{}, fmt.Errorf("sysctl root: %w", err)
	}
	raw := make(map[string]string)
	for _, k := range advisor.Registry() {
		v, err := c.Get(k.Name)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && (k.Since != "" || k.Scope == advisor.Global) {
				continue
			}
			return advisor.Sysctls{}, fmt.Errorf("sysctl %s: %w", k.Name, err)
		}
		raw[k.Name] = v
	}
	return advisor.NewSysctls(raw)
}
