package policies

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/tcp-advisor/tcp-advisor/advisor"
)

// The sysctl keys a policy may set.
const (
	KeyPortRange     = "net.ipv4.ip_local_port_range"
	KeyReservedPorts = "net.ipv4.ip_local_reserved_ports"
	KeyTwReuse       = "net.ipv4.tcp_tw_reuse"
	KeyTwReuseDelay  = "net.ipv4.tcp_tw_reuse_delay"
	KeyFinTimeout    = "net.ipv4.tcp_fin_timeout"
	KeyMaxTwBuckets  = "net.ipv4.tcp_max_tw_buckets"
	KeyMaxOrphans    = "net.ipv4.tcp_max_orphans"
	KeySomaxconn     = "net.core.somaxconn"
	KeyMaxSynBacklog = "net.ipv4.tcp_max_syn_backlog"
	KeySyncookies    = "net.ipv4.tcp_syncookies"
	keyTwRecycle     = "net.ipv4.tcp_tw_recycle"
)

// maxInt32 bounds the kernel's int sysctls.
const maxInt32 int64 = math.MaxInt32

// valueKind is the shape of a sysctl's value.
type valueKind int

const (
	kindInt       valueKind = iota // one integer
	kindPortRange                  // "low high"
	kindPortList                   // "8080,9000-9100"
)

// builtin is the guardrail tcp-advisor applies to a key whatever the
// policy says; a policy guardrail may only tighten it.
type builtin struct {
	kind     valueKind
	min, max int64 // for kindInt the value; for kindPortRange low (min) and high (max)
	why      string
}

// builtins is the allow-list: every key a policy may set, with its built-in
// bounds. The bounds are the kernel's own (net/ipv4/sysctl_net_ipv4.c) or,
// where the kernel accepts anything, the range that makes sense on a host.
var builtins = map[string]builtin{
	// ip-sysctl.rst: low >= ip_unprivileged_port_start, high <= 65535,
	// low < high. 1024 is the unprivileged floor tcp-advisor keeps unless a
	// guardrail sets allow_privileged_low; the live check against
	// ip_unprivileged_port_start and listening ports is remediate's.
	KeyPortRange: {kind: kindPortRange, min: 1024, max: 65535,
		why: "low >= 1024 (unless allow_privileged_low), high <= 65535, low < high"},
	KeyReservedPorts: {kind: kindPortList, min: 0, max: 65535,
		why: `a port list such as "8080,9000-9100"`},
	// 0 off, 1 on, 2 loopback only (proc_dou8vec_minmax 0..2).
	KeyTwReuse: {kind: kindInt, min: 0, max: 2, why: "0 (off), 1 (on) or 2 (loopback only)"},
	// proc_douintvec_minmax 1..TCP_PAWS_MSL*MSEC_PER_SEC, default 1000.
	// The key arrived in Linux 6.14: commit ca6a6f93867a ("tcp: Add sysctl
	// to configure TIME-WAIT reuse delay") was merged into net-next on
	// 2024-12-11, after 6.13-rc1, so 6.13 does not have it.
	KeyTwReuseDelay: {kind: kindInt, min: 1, max: 60000, why: "milliseconds, 1 to 60000"},
	// The sysctl has no kernel bound; 120 s is TCP_FIN_TIMEOUT_MAX, the cap
	// the kernel puts on the per-socket TCP_LINGER2 equivalent.
	KeyFinTimeout:    {kind: kindInt, min: 1, max: 120, why: "seconds, 1 to 120"},
	KeyMaxTwBuckets:  {kind: kindInt, min: 1, max: maxInt32, why: "a positive integer"},
	KeyMaxOrphans:    {kind: kindInt, min: 1, max: maxInt32, why: "a positive integer"},
	KeySomaxconn:     {kind: kindInt, min: 1, max: maxInt32, why: "a positive integer"},
	KeyMaxSynBacklog: {kind: kindInt, min: 1, max: maxInt32, why: "a positive integer"},
	// 0 turns SYN flood protection off; tcp-advisor never does that.
	KeySyncookies: {kind: kindInt, min: 1, max: 2,
		why: "1 (on when the SYN queue overflows) or 2 (always); 0 would turn SYN flood protection off"},
}

// refused names keys that look like tuning knobs but that tcp-advisor will
// never write, with the reason shown to the operator.
var refused = map[string]string{
	keyTwRecycle: "net.ipv4.tcp_tw_recycle was removed in Linux 4.12: it broke clients behind NAT; " +
		"use net.ipv4.tcp_tw_reuse (outgoing connections only) or widen net.ipv4.ip_local_port_range",
	"net.ipv4.tcp_timestamps": "net.ipv4.tcp_timestamps is not set by tcp-advisor: " +
		"tcp_tw_reuse and PAWS depend on TCP timestamps",
	"net.ipv4.ip_unprivileged_port_start": "net.ipv4.ip_unprivileged_port_start is a security setting " +
		"(which ports need privileges), not a tuning knob; tcp-advisor only reads it",
}

// AllowedKeys returns the allow-list of TCP and port sysctls a policy may
// set, sorted.
func AllowedKeys() []string {
	keys := make([]string, 0, len(builtins))
	for k := range builtins {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// checkKey reports why a policy may not set key, or nil when it may.
func checkKey(key string) error {
	if _, ok := builtins[key]; ok {
		return nil
	}
	if why, ok := refused[key]; ok {
		return errors.New(why)
	}
	hint := ""
	if strings.Contains(key, "/") {
		hint = fmt.Sprintf(" (write sysctl names with dots: %q)", strings.ReplaceAll(strings.Trim(key, "/"), "/", "."))
	}
	return fmt.Errorf("%s is not a TCP/port sysctl tcp-advisor may set%s; allowed keys: %s",
		key, hint, strings.Join(AllowedKeys(), ", "))
}

// NormalizeValue returns a sysctl value with runs of whitespace collapsed to
// one space and the ends trimmed: the kernel prints "32768\t60999", policies
// and plans use "32768 60999".
func NormalizeValue(v string) string { return strings.Join(strings.Fields(v), " ") }

// CheckValue checks value against the built-in guardrails of key that need
// no live state (DESIGN §3): the allow-list, tcp_tw_recycle, the port range
// rules (integers, low < high, high <= 65535, low >= 1024), the values each
// key accepts. The checks against ip_unprivileged_port_start and listening
// ports need the live host and are remediate's. A port range with a low
// below 1024 that a guardrail allows (allow_privileged_low) is checked with
// CheckValuePrivileged.
func CheckValue(key, value string) error { return checkValue(key, value, false) }

// CheckValuePrivileged is CheckValue for a port range whose guardrail sets
// allow_privileged_low: low may then go below 1024, down to 1.
func CheckValuePrivileged(key, value string) error { return checkValue(key, value, true) }

func checkValue(key, value string, privilegedLow bool) error {
	if err := checkKey(key); err != nil {
		return err
	}
	b := builtins[key]
	v := NormalizeValue(value)
	switch b.kind {
	case kindPortRange:
		_, err := parsePortRange(v, privilegedLow)
		if err != nil {
			return fmt.Errorf("%s %q: %v", key, v, err)
		}
	case kindPortList:
		if _, err := advisor.ParsePortSet(v); err != nil {
			return fmt.Errorf("%s %q: %v", key, v, err)
		}
	case kindInt:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("%s %q: not an integer; want %s", key, v, b.why)
		}
		if n < b.min || n > b.max {
			return fmt.Errorf("%s %q: out of range; want %s", key, v, b.why)
		}
	}
	return nil
}

// parsePortRange parses and checks a normalized "low high" value against the
// built-in port range rules.
func parsePortRange(v string, privilegedLow bool) (advisor.PortRange, error) {
	f := strings.Fields(v)
	if len(f) != 2 {
		return advisor.PortRange{}, errors.New(`want two port numbers, "low high"`)
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil {
		return advisor.PortRange{}, errors.New(`want two port numbers, "low high"`)
	}
	floor := 1024
	if privilegedLow {
		floor = 1
	}
	switch {
	case lo >= hi:
		return advisor.PortRange{}, errors.New("low must be below high")
	case hi > 65535:
		return advisor.PortRange{}, errors.New("high must be 65535 or less")
	case lo < floor && !privilegedLow:
		return advisor.PortRange{}, errors.New("low below 1024 takes privileged ports; a guardrail must set allow_privileged_low = true")
	case lo < floor:
		return advisor.PortRange{}, errors.New("low must be 1 or more")
	}
	return advisor.PortRange{Low: lo, High: hi}, nil
}

// currentValue returns the snapshot's value of key, normalized, and whether
// the host has the key.
func currentValue(sc advisor.Sysctls, key string) (string, bool) {
	itoa := strconv.Itoa
	switch key {
	case KeyPortRange:
		return sc.PortRange.String(), true
	case KeyReservedPorts:
		return sc.ReservedPorts.String(), true
	case KeyTwReuse:
		return itoa(sc.TCPTwReuse), true
	case KeyTwReuseDelay:
		if sc.TCPTwReuseDelayMs == nil {
			return "", false
		}
		return itoa(*sc.TCPTwReuseDelayMs), true
	case KeyFinTimeout:
		return itoa(sc.TCPFinTimeout), true
	case KeyMaxTwBuckets:
		return itoa(sc.TCPMaxTwBuckets), true
	case KeyMaxOrphans:
		if sc.TCPMaxOrphans == nil {
			return "", false
		}
		return itoa(*sc.TCPMaxOrphans), true
	case KeySomaxconn:
		return itoa(sc.Somaxconn), true
	case KeyMaxSynBacklog:
		return itoa(sc.TCPMaxSynBacklog), true
	case KeySyncookies:
		return itoa(sc.TCPSyncookies), true
	}
	v, ok := sc.Raw[key]
	return NormalizeValue(v), ok
}
