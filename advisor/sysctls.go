package advisor

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// The sysctl keys tcp-advisor reads, by full name. What tcp-advisor knows
// about each is its entry in the registry below.
const (
	KeyPortRange             = "net.ipv4.ip_local_port_range"
	KeyReservedPorts         = "net.ipv4.ip_local_reserved_ports"
	KeyUnprivilegedPortStart = "net.ipv4.ip_unprivileged_port_start"
	KeyTwReuse               = "net.ipv4.tcp_tw_reuse"
	KeyTwReuseDelay          = "net.ipv4.tcp_tw_reuse_delay"
	KeyFinTimeout            = "net.ipv4.tcp_fin_timeout"
	KeyMaxTwBuckets          = "net.ipv4.tcp_max_tw_buckets"
	KeyMaxOrphans            = "net.ipv4.tcp_max_orphans"
	KeySomaxconn             = "net.core.somaxconn"
	KeyMaxSynBacklog         = "net.ipv4.tcp_max_syn_backlog"
	KeySyncookies            = "net.ipv4.tcp_syncookies"
	KeyTimestamps            = "net.ipv4.tcp_timestamps"
)

// ValueKind is the shape of a sysctl's value.
type ValueKind int

// The value kinds.
const (
	// KindInt is one integer.
	KindInt ValueKind = iota
	// KindPortRange is two ports, "low high".
	KindPortRange
	// KindPortList is a list of ports and ranges, "8080,9000-9100".
	KindPortList
)

// Scope says whether a sysctl has one value per network namespace or one
// for the whole host.
type Scope int

// The scopes.
const (
	// PerNamespace keys have their own value in every network namespace.
	PerNamespace Scope = iota
	// Global keys have one value for the host; they can be read and set
	// only from the initial network namespace.
	Global
)

func (s Scope) String() string {
	if s == Global {
		return "global"
	}
	return "per network namespace"
}

// SysctlKey is everything tcp-advisor knows about one sysctl: observation
// reads the registered keys, the policy language exposes them under
// sysctl.<Short>, the guard checks proposed values against Min and Max, and
// the documentation lists them. Adding a key is one entry in registry.
type SysctlKey struct {
	// Name is the full dotted name, "net.ipv4.tcp_tw_reuse".
	Name string
	// Short is the name policies use: sysctl.tcp_tw_reuse.
	Short string
	Kind  ValueKind
	// Min and Max bound the values tcp-advisor will ever write: for
	// KindInt the value, for KindPortRange low (Min) and high (Max). They
	// are the kernel's own bounds or, where the kernel takes anything, the
	// values that make sense on a host. A policy guardrail may only
	// tighten them.
	Min, Max int64
	Scope    Scope
	// Settable is false for keys tcp-advisor only reads; NotSettable
	// says why.
	Settable    bool
	NotSettable string
	// Since is the kernel release that added the key, when it is recent
	// enough that a supported kernel may lack it; Absent is the value
	// analysis uses when the key is missing ("" for none).
	Since  string
	Absent string
	// Values explains the values; Governs what the key changes and why
	// tcp-advisor reads it.
	Values  string
	Governs string
}

// registry is every sysctl tcp-advisor reads, in the order documentation
// lists them. The bounds follow net/ipv4/sysctl_net_ipv4.c and
// net/core/sysctl_net_core.c.
var registry = []SysctlKey{
	{
		Name: KeyPortRange, Short: "ip_local_port_range", Kind: KindPortRange,
		Min: 1024, Max: 65535, Settable: true,
		Values:  "two ports, low high; the kernel takes low >= ip_unprivileged_port_start and high <= 65535, and logs an error once when low and high have the same parity",
		Governs: "the ports connect() without bind(), and bind() to port 0, pick from (TCP and UDP alike); one destination can use each port once",
	},
	{
		Name: KeyReservedPorts, Short: "ip_local_reserved_ports", Kind: KindPortList,
		Min: 0, Max: 65535, Settable: true,
		Values:  `a list of ports and ranges, "8080,9000-9100"; empty for none`,
		Governs: "ports inside ip_local_port_range that automatic port choice skips, so services can bind them later",
	},
	{
		Name: KeyUnprivilegedPortStart, Short: "ip_unprivileged_port_start", Kind: KindInt,
		Min: 0, Max: 65535,
		NotSettable: "a security setting (which ports need CAP_NET_BIND_SERVICE), not a tuning knob",
		Values:      "a port",
		Governs:     "the lowest port any user may bind; ip_local_port_range's low may not go below it",
	},
	{
		Name: KeyTwReuse, Short: "tcp_tw_reuse", Kind: KindInt,
		Min: 0, Max: 2, Settable: true,
		Values:  "0 off, 1 on, 2 loopback only (the default)",
		Governs: "whether connect() may take a port whose TIME_WAIT socket towards the same destination is older than tcp_tw_reuse_delay (timestamps needed)",
	},
	{
		Name: KeyTwReuseDelay, Short: "tcp_tw_reuse_delay", Kind: KindInt,
		Min: 1, Max: 60000, Settable: true, Since: "6.14", Absent: "1000",
		Values:  "milliseconds, 1 to 60000 (default 1000); before Linux 6.14 a fixed second",
		Governs: "how old a TIME_WAIT socket must be before tcp_tw_reuse lets connect() take its port",
	},
	{
		Name: KeyFinTimeout, Short: "tcp_fin_timeout", Kind: KindInt,
		Min: 1, Max: 120, Settable: true,
		Values:  "seconds (default 60); tcp-advisor keeps it within 1 to 120, TCP_FIN_TIMEOUT_MAX",
		Governs: "how long an orphaned socket waits in FIN_WAIT2 for the peer's FIN; not the length of TIME_WAIT, which is fixed at 60 s",
	},
	{
		Name: KeyMaxTwBuckets, Short: "tcp_max_tw_buckets", Kind: KindInt,
		Min: 1, Max: 1<<31 - 1, Settable: true,
		Values:  "a count",
		Governs: "how many timewait sockets (TIME_WAIT and orphaned FIN_WAIT2) may exist; past it closing sockets skip TIME_WAIT (TCPTimeWaitOverflow)",
	},
	{
		Name: KeyMaxOrphans, Short: "tcp_max_orphans", Kind: KindInt,
		Min: 1, Max: 1<<31 - 1, Settable: true, Scope: Global, Absent: "0",
		Values:  "a count",
		Governs: "how many sockets no process holds may exist host-wide; absent inside network namespaces other than the initial one",
	},
	{
		Name: KeySomaxconn, Short: "somaxconn", Kind: KindInt,
		Min: 1, Max: 1<<31 - 1, Settable: true,
		Values:  "a count (default 4096)",
		Governs: "the cap on every listen() backlog, fixed when listen() is called",
	},
	{
		Name: KeyMaxSynBacklog, Short: "tcp_max_syn_backlog", Kind: KindInt,
		Min: 1, Max: 1<<31 - 1, Settable: true,
		Values:  "a count",
		Governs: "the SYN (request) queue of a listener; it does not bound the accept queue",
	},
	{
		Name: KeySyncookies, Short: "tcp_syncookies", Kind: KindInt,
		Min: 1, Max: 2, Settable: true,
		Values:  "0 off, 1 when the SYN queue overflows, 2 always; tcp-advisor never writes 0",
		Governs: "SYN flood protection",
	},
	{
		Name: KeyTimestamps, Short: "tcp_timestamps", Kind: KindInt,
		Min: 0, Max: 2,
		NotSettable: "tcp_tw_reuse and PAWS depend on TCP timestamps",
		Values:      "0 off, 1 on with random offsets, 2 on",
		Governs:     "TCP timestamps, which tcp_tw_reuse needs negotiated with the peer",
	},
}

// removedKeys are tuning knobs older guides recommend that the kernel no
// longer has, with what to say instead of writing them.
var removedKeys = map[string]string{
	"net.ipv4.tcp_tw_recycle": "net.ipv4.tcp_tw_recycle was removed in Linux 4.12 (commit 4396e46187ca): it broke clients behind NAT; " +
		"use net.ipv4.tcp_tw_reuse (outgoing connections only) or widen net.ipv4.ip_local_port_range",
}

var registryByName = func() map[string]*SysctlKey {
	m := make(map[string]*SysctlKey, len(registry))
	for i := range registry {
		m[registry[i].Name] = &registry[i]
	}
	return m
}()

// Registry returns every registered sysctl, in documentation order.
func Registry() []SysctlKey { return slices.Clone(registry) }

// LookupSysctl returns the registry entry of a full key name.
func LookupSysctl(name string) (SysctlKey, bool) {
	k, ok := registryByName[name]
	if !ok {
		return SysctlKey{}, false
	}
	return *k, true
}

// CheckSettable reports why tcp-advisor may not set key, or nil when it may.
func CheckSettable(key string) error {
	if k, ok := registryByName[key]; ok {
		if k.Settable {
			return nil
		}
		return fmt.Errorf("%s is not set by tcp-advisor: %s", key, k.NotSettable)
	}
	if why, ok := removedKeys[key]; ok {
		return fmt.Errorf("%s", why)
	}
	hint := ""
	if strings.Contains(key, "/") {
		hint = fmt.Sprintf(" (write sysctl names with dots: %q)", strings.ReplaceAll(strings.Trim(key, "/"), "/", "."))
	}
	return fmt.Errorf("%s is not a TCP/port sysctl tcp-advisor may set%s; settable keys: %s",
		key, hint, strings.Join(SettableKeys(), ", "))
}

// SettableKeys returns the keys a policy may set, sorted.
func SettableKeys() []string {
	var out []string
	for _, k := range registry {
		if k.Settable {
			out = append(out, k.Name)
		}
	}
	slices.Sort(out)
	return out
}

// NormalizeValue folds a sysctl value's whitespace: the kernel separates
// fields with tabs ("32768\t60999") where people write spaces.
func NormalizeValue(v string) string { return strings.Join(strings.Fields(v), " ") }

// Bounds describes the bounds tcp-advisor writes within.
func (k SysctlKey) Bounds() string {
	switch k.Kind {
	case KindPortRange:
		return fmt.Sprintf("low >= %d (>= 1 with allow_privileged_low), high <= %d, low < high", k.Min, k.Max)
	case KindPortList:
		return "ports 0 to 65535"
	}
	return fmt.Sprintf("%d to %d", k.Min, k.Max)
}

// Check reports whether v, normalized, is a value of the key's kind within
// its bounds.
func (k SysctlKey) Check(v string) error {
	switch k.Kind {
	case KindPortRange:
		r, err := ParsePortRange(v)
		switch {
		case err != nil:
			return err
		case r.Low >= r.High:
			return fmt.Errorf("%q: low must be below high", v)
		case int64(r.Low) < k.Min:
			return fmt.Errorf("%q: low below %d", v, k.Min)
		case int64(r.High) > k.Max:
			return fmt.Errorf("%q: high above %d", v, k.Max)
		}
	case KindPortList:
		_, err := ParsePortSet(v)
		return err
	default:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not an integer; want %s", v, k.Values)
		}
		if n < k.Min || n > k.Max {
			return fmt.Errorf("%d is outside %d..%d; want %s", n, k.Min, k.Max, k.Values)
		}
	}
	return nil
}

// Sysctls are the values of the registered keys as read from one network
// namespace, whitespace-normalized, with typed accessors. A key the kernel
// lacks is absent. The zero value holds no keys.
type Sysctls struct {
	values map[string]string
	// portRange and reserved are ip_local_port_range and
	// ip_local_reserved_ports parsed once, when the values are set (zero
	// when absent or malformed).
	portRange PortRange
	reserved  PortSet
}

// NewSysctls returns the given values, normalized. It checks that each
// registered key's value has its kind's shape (not its bounds: the kernel
// may hold values tcp-advisor would never write).
func NewSysctls(values map[string]string) (Sysctls, error) {
	s := Sysctls{values: make(map[string]string, len(values))}
	for k, v := range values {
		if err := s.set(k, NormalizeValue(v)); err != nil {
			return Sysctls{}, fmt.Errorf("sysctl %s: %w", k, err)
		}
	}
	return s, nil
}

// set stores a normalized value, parsing ip_local_port_range and
// ip_local_reserved_ports for the typed accessors. It reports a registered
// key whose value does not have its kind's shape.
func (s *Sysctls) set(key, v string) error {
	s.values[key] = v
	var err error
	switch key {
	case KeyPortRange:
		s.portRange, err = ParsePortRange(v)
	case KeyReservedPorts:
		s.reserved, err = ParsePortSet(v)
	default:
		if reg, ok := registryByName[key]; ok {
			err = checkShape(reg.Kind, v)
		}
	}
	return err
}

// MustSysctls is NewSysctls for values known to be well-formed, such as
// test fixtures; it panics otherwise.
func MustSysctls(values map[string]string) Sysctls {
	s, err := NewSysctls(values)
	if err != nil {
		panic(err)
	}
	return s
}

func checkShape(kind ValueKind, v string) error {
	var err error
	switch kind {
	case KindPortRange:
		_, err = ParsePortRange(v)
	case KindPortList:
		_, err = ParsePortSet(v)
	default:
		if _, perr := strconv.Atoi(v); perr != nil {
			err = fmt.Errorf("%q is not an integer", v)
		}
	}
	return err
}

// Value returns a key's normalized value and whether the host has it.
func (s Sysctls) Value(key string) (string, bool) {
	v, ok := s.values[key]
	return v, ok
}

// Has reports whether the host has key.
func (s Sysctls) Has(key string) bool {
	_, ok := s.values[key]
	return ok
}

// Int returns an integer key's value; a missing key reads as the registry's
// Absent value, or 0.
func (s Sysctls) Int(key string) int {
	v, ok := s.values[key]
	if !ok {
		if reg, known := registryByName[key]; known {
			v = reg.Absent
		}
	}
	n, _ := strconv.Atoi(v)
	return n
}

// PortRange returns net.ipv4.ip_local_port_range.
func (s Sysctls) PortRange() PortRange { return s.portRange }

// ReservedPorts returns net.ipv4.ip_local_reserved_ports. The set is
// shared with s: PortSet's methods return new sets and never change it.
func (s Sysctls) ReservedPorts() PortSet { return s.reserved }

// With returns a copy of s with key set to value (normalized), for
// simulating a change. The value's shape is not checked: a malformed port
// range or list reads as absent through the typed accessors.
func (s Sysctls) With(key, value string) Sysctls {
	out := Sysctls{values: maps.Clone(s.values), portRange: s.portRange, reserved: s.reserved}
	if out.values == nil {
		out.values = map[string]string{}
	}
	_ = out.set(key, NormalizeValue(value))
	return out
}

// Keys returns the keys present, sorted.
func (s Sysctls) Keys() []string { return slices.Sorted(maps.Keys(s.values)) }

// InitialNamespace reports whether the values were read in the host's
// initial network namespace: net.ipv4.tcp_max_orphans is in the global
// ipv4 table, which the kernel registers for the initial namespace only.
func (s Sysctls) InitialNamespace() bool { return s.Has(KeyMaxOrphans) }

// MarshalJSON writes the values as an object keyed by full name.
func (s Sysctls) MarshalJSON() ([]byte, error) {
	if s.values == nil {
		return []byte("{}"), nil
	}
	return json.Marshal(s.values)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (s *Sysctls) UnmarshalJSON(b []byte) error {
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	v, err := NewSysctls(m)
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// RegistryMarkdown renders the registry as the Markdown table the
// documentation holds (policies/README.md); a test keeps the two equal.
func RegistryMarkdown() string {
	var b strings.Builder
	b.WriteString("| key | values | bounds tcp-advisor writes within | settable | scope | governs |\n|---|---|---|---|---|---|\n")
	for _, k := range registry {
		settable := "yes"
		if !k.Settable {
			settable = "no: " + k.NotSettable
		}
		scope := k.Scope.String()
		if k.Since != "" {
			scope += fmt.Sprintf("; Linux %s and later", k.Since)
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s |\n", k.Name, k.Values, k.Bounds(), settable, scope, k.Governs)
	}
	return b.String()
}
