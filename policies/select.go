package policies

import (
	"os"
	"path/filepath"

	"github.com/hashicorp/hcl/v2"
)

// LoadOrDefault loads the policy files under paths. When the paths name no
// policy file at all (none given, or only directories without *.hcl files,
// such as a fresh /etc/tcp-advisor/policies.d), it returns the embedded
// defaults: files dropped into the directory replace them.
func LoadOrDefault(paths ...string) (*Set, hcl.Diagnostics) {
	var named []string
	for _, p := range paths {
		if info, err := os.Stat(p); err == nil && info.IsDir() {
			if files, _ := filepath.Glob(filepath.Join(p, "*.hcl")); len(files) == 0 {
				continue
			}
		}
		named = append(named, p)
	}
	if len(named) == 0 {
		return Default(), nil
	}
	return Load(named...)
}
