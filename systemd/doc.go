// Package systemd is how tcp-advisor talks to systemd: sd_notify messages
// (READY, STATUS, WATCHDOG, RELOADING, STOPPING) through go-systemd's daemon
// package, and structured journal entries with a fixed MESSAGE_ID per kind of
// event through its journal package, falling back to plain stderr lines when
// journald is not there.
//
// The directory also holds the unit file (tcp-advisor.service) and the journal
// catalog (tcp-advisor.catalog) that the packages install; their tests live
// here so that a change to an event kind, a message ID or the unit's
// hardening is checked where it is made.
package systemd
