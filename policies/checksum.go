package policies

import (
	"crypto/sha256"
	"fmt"
	"path"
)

// Checksum identifies the policy set by its files: the SHA-256, in hex, of
// one line per file in load order, "<sha256 of the content>  <base name>\n"
// — the lines sha256sum prints. So hosts that load the same files under the
// same names report the same checksum, the embedded defaults included, and
// an operator can compute it by hand in a policy directory:
//
//	cd /etc/tcp-advisor/policies.d && LC_ALL=C sha256sum *.hcl | sha256sum
//
// (the packaged copy of the defaults, /usr/share/tcp-advisor/policies,
// gives the checksum of the embedded set). Directories, paths and the
// "default/" prefix of embedded files do not count, only base names.
func (s *Set) Checksum() string { return s.checksum }

// checksum computes Checksum over the sources a set was loaded from.
func checksum(srcs []source) string {
	h := sha256.New()
	for _, s := range srcs {
		// Embedded names use '/', file paths the OS separator: both are
		// '/' on Linux.
		fmt.Fprintf(h, "%x  %s\n", sha256.Sum256(s.src), path.Base(s.name))
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}
