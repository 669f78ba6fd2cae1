package observe

import (
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	sysctl "github.com/lorenzosaino/go-sysctl"

	"github.com/tcp-advisor/tcp-advisor/advisor"
)

// Sysctl keys tcp-advisor reads. Those in optionalKeys may be absent: see
// there.
const (
	KeyPortRange             = "net.ipv4.ip_local_port_range"
	KeyReservedPorts         = "net.ipv4.ip_local_reserved_ports"
	KeyUnprivilegedPortStart = "net.ipv4.ip_unprivileged_port_start"
	KeyTCPTwReuse            = "net.ipv4.tcp_tw_reuse"
	KeyTCPTwReuseDelay       = "net.ipv4.tcp_tw_reuse_delay"
	KeyTCPFinTimeout         = "net.ipv4.tcp_fin_timeout"
	KeyTCPMaxTwBuckets       = "net.ipv4.tcp_max_tw_buckets"
	KeyTCPMaxOrphans         = "net.ipv4.tcp_max_orphans"
	KeySomaxconn             = "net.core.somaxconn"
	KeyTCPMaxSynBacklog      = "net.ipv4.tcp_max_syn_backlog"
	KeyTCPSyncookies         = "net.ipv4.tcp_syncookies"
	KeyTCPTimestamps         = "net.ipv4.tcp_timestamps"
)

// optionalKeys may be missing: tcp_tw_reuse_delay arrived in Linux 6.14
// (commit ca6a6f93867a), and
// tcp_max_orphans is global, absent inside any network namespace but the
// initial one.
var optionalKeys = map[string]bool{KeyTCPTwReuseDelay: true, KeyTCPMaxOrphans: true}

// SysctlKeys lists every key ReadSysctls reads.
var SysctlKeys = []string{
	KeyPortRange, KeyReservedPorts, KeyUnprivilegedPortStart, KeyTCPTwReuse,
	KeyTCPTwReuseDelay, KeyTCPFinTimeout, KeyTCPMaxTwBuckets, KeyTCPMaxOrphans,
	KeySomaxconn, KeyTCPMaxSynBacklog, KeyTCPSyncookies, KeyTCPTimestamps,
}

// NormalizeValue folds the whitespace of a sysctl value: the kernel separates
// fields with tabs ("32768\t60999") where users write spaces.
func NormalizeValue(v string) string { return strings.Join(strings.Fields(v), " ") }

// ReadSysctls reads the keys of SysctlKeys below root (normally /proc/sys).
func ReadSysctls(root string) (advisor.Sysctls, error) {
	c, err := sysctl.NewClient(root)
	if err != nil {
		return advisor.Sysctls{}, fmt.Errorf("sysctl root: %w", err)
	}
	raw := make(map[string]string, len(SysctlKeys))
	for _, k := range SysctlKeys {
		v, err := c.Get(k)
		if err != nil {
			if optionalKeys[k] && errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return advisor.Sysctls{}, fmt.Errorf("sysctl %s: %w", k, err)
		}
		raw[k] = NormalizeValue(v)
	}
	return parseSysctls(raw)
}

func parseSysctls(raw map[string]string) (advisor.Sysctls, error) {
	s := advisor.Sysctls{Raw: raw}
	var err error
	if s.PortRange, err = advisor.ParsePortRange(raw[KeyPortRange]); err != nil {
		return s, fmt.Errorf("sysctl %s: %w", KeyPortRange, err)
	}
	if s.ReservedPorts, err = advisor.ParsePortSet(raw[KeyReservedPorts]); err != nil {
		return s, fmt.Errorf("sysctl %s: %w", KeyReservedPorts, err)
	}
	ints := []struct {
		key string
		dst *int
	}{
		{KeyUnprivilegedPortStart, &s.UnprivilegedPortStart},
		{KeyTCPTwReuse, &s.TCPTwReuse},
		{KeyTCPFinTimeout, &s.TCPFinTimeout},
		{KeyTCPMaxTwBuckets, &s.TCPMaxTwBuckets},
		{KeySomaxconn, &s.Somaxconn},
		{KeyTCPMaxSynBacklog, &s.TCPMaxSynBacklog},
		{KeyTCPSyncookies, &s.TCPSyncookies},
		{KeyTCPTimestamps, &s.TCPTimestamps},
	}
	for _, f := range ints {
		if *f.dst, err = strconv.Atoi(raw[f.key]); err != nil {
			return s, fmt.Errorf("sysctl %s: %q is not an integer", f.key, raw[f.key])
		}
	}
	if s.TCPTwReuseDelayMs, err = optionalInt(raw, KeyTCPTwReuseDelay); err != nil {
		return s, err
	}
	if s.TCPMaxOrphans, err = optionalInt(raw, KeyTCPMaxOrphans); err != nil {
		return s, err
	}
	return s, nil
}

func optionalInt(raw map[string]string, key string) (*int, error) {
	v, ok := raw[key]
	if !ok {
		return nil, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return nil, fmt.Errorf("sysctl %s: %q is not an integer", key, v)
	}
	return &n, nil
}
