// Package advisor holds what tcp-advisor knows about a host: the Snapshot that
// observation produces, and the Findings that analysis derives from a series of
// snapshots. It never talks to the kernel itself; package observe does the
// reading and package report does the rendering.
package advisor
