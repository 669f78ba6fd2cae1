package policies

import (
	"crypto/sha256"
	"fmt"
	"path"
)

// Checksum identifies the policy set by the files it was loaded from, in
// load order — the embedded defaults first when they are layered in, then
// the operator's files: the SHA-256, in hex, of one line per file,
// "<sha256 of the content>  <base name>\n", the lines sha256sum prints. So
// hosts that load the same files under the same names report the same
// checksum, and an operator can compute it by hand (the packages install
// the defaults as files in /usr/share/tcp-advisor/policies):
//
//	{ cd /usr/share/tcp-advisor/policies && LC_ALL=C sha256sum *.hcl
//	  cd /etc/tcp-advisor/policies.d && LC_ALL=C sha256sum *.hcl; } 2>/dev/null | sha256sum
//
// (without the first line when an agent block sets defaults = false).
// Directories, paths and the "default/" prefix of embedded files do not
// count, only base names.
func (s *Set) Checksum() string {
	h := sha256.New()
	for _, src := range s.sources {
		// Embedded names use '/', file paths the OS separator: both are
		// '/' on Linux.
		fmt.Fprintf(h, "%x  %s\n", sha256.Sum256(src.src), path.Base(src.name))
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}
