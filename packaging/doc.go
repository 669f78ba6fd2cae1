// Package packaging holds no code: the directory is the .deb/.rpm definition
// (nfpm.yaml, maintainer scripts, default configuration under etc/), and its
// tests check that definition. `make package` builds the packages.
package packaging
