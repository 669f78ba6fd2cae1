package observe

import (
	"fmt"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/advisor/sysctl"
)

// ReadSysctls reads every registered sysctl below root (normally
// /proc/sys) through sysctl.Tree.ReadAll, in the calling thread's network
// namespace.
func ReadSysctls(root string) (advisor.Sysctls, error) {
	t, err := sysctl.New(root)
	if err != nil {
		return advisor.Sysctls{}, fmt.Errorf("sysctl root: %w", err)
	}
	return t.ReadAll()
}
