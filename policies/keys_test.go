package policies

import (
	"slices"
	"strings"
	"testing"

	"github.com/tcp-advisor/tcp-advisor/advisor"
)

func TestCheckValue(t *testing.T) {
	tests := []struct {
		key, value string
		err        string // substring; empty means valid
	}{
		{KeyPortRange, "32768 60999", ""},
		{KeyPortRange, "32768\t60999", ""},
		{KeyPortRange, "  1024   65535 ", ""},
		{KeyPortRange, "60999 32768", "low must be below high"},
		{KeyPortRange, "40000 40000", "low must be below high"},
		{KeyPortRange, "32768 65536", "high must be 65535 or less"},
		{KeyPortRange, "1023 60999", "allow_privileged_low"},
		{KeyPortRange, "-1 60999", "allow_privileged_low"},
		{KeyPortRange, "32768", `want two port numbers`},
		{KeyPortRange, "a b", `want two port numbers`},
		{KeyPortRange, "1 2 3", `want two port numbers`},
		{KeyReservedPorts, "", ""},
		{KeyReservedPorts, "8080,9000-9100", ""},
		{KeyReservedPorts, "9100-9000", "out of order"},
		{KeyReservedPorts, "70000", "out of order or range"},
		{KeyReservedPorts, "http", "not a port"},
		{KeyTwReuse, "0", ""},
		{KeyTwReuse, "1", ""},
		{KeyTwReuse, "2", ""},
		{KeyTwReuse, "3", "want 0 (off), 1 (on) or 2 (loopback only)"},
		{KeyTwReuse, "on", "not an integer"},
		{KeyTwReuseDelay, "1", ""},
		{KeyTwReuseDelay, "60000", ""},
		{KeyTwReuseDelay, "0", "1 to 60000"},
		{KeyTwReuseDelay, "100000", "1 to 60000"},
		{KeyFinTimeout, "30", ""},
		{KeyFinTimeout, "0", "1 to 120"},
		{KeyFinTimeout, "121", "1 to 120"},
		{KeyMaxTwBuckets, "262144", ""},
		{KeyMaxTwBuckets, "0", "positive integer"},
		{KeyMaxTwBuckets, "2147483648", "positive integer"},
		{KeyMaxOrphans, "65536", ""},
		{KeySomaxconn, "4096", ""},
		{KeySomaxconn, "-1", "positive integer"},
		{KeyMaxSynBacklog, "1.5", "not an integer"},
		{KeySyncookies, "1", ""},
		{KeySyncookies, "0", "SYN flood protection"},
		{"net.ipv4.tcp_tw_recycle", "1", "removed in Linux 4.12: it broke clients behind NAT"},
		{"kernel.panic", "10", "kernel.panic is not a TCP/port sysctl tcp-advisor may set"},
		{"net.ipv4.tcp_timestamps", "0", "PAWS"},
		{"net.ipv4.ip_unprivileged_port_start", "0", "security setting"},
		{"net/ipv4/tcp_tw_reuse", "1", `write sysctl names with dots: "net.ipv4.tcp_tw_reuse"`},
	}
	for _, tc := range tests {
		t.Run(tc.key+"="+tc.value, func(t *testing.T) {
			err := CheckValue(tc.key, tc.value)
			switch {
			case tc.err == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tc.err != "" && err == nil:
				t.Errorf("no error, want %q", tc.err)
			case tc.err != "" && !strings.Contains(err.Error(), tc.err):
				t.Errorf("error %q, want it to contain %q", err, tc.err)
			}
		})
	}
	if err := CheckValuePrivileged(KeyPortRange, "500 60999"); err != nil {
		t.Errorf("privileged low refused: %v", err)
	}
	if err := CheckValuePrivileged(KeyPortRange, "0 60999"); err == nil {
		t.Error("privileged low 0 accepted")
	}
}

func TestAllowedKeys(t *testing.T) {
	keys := AllowedKeys()
	if !slices.IsSorted(keys) {
		t.Errorf("not sorted: %v", keys)
	}
	for _, k := range []string{KeyPortRange, KeyReservedPorts, KeyTwReuse, KeyTwReuseDelay, KeyFinTimeout, KeyMaxTwBuckets, KeyMaxOrphans, KeySomaxconn, KeyMaxSynBacklog, KeySyncookies} {
		if !slices.Contains(keys, k) {
			t.Errorf("%s missing", k)
		}
	}
	for _, k := range []string{"net.ipv4.tcp_tw_recycle", "kernel.panic", "net.ipv4.tcp_timestamps"} {
		if slices.Contains(keys, k) {
			t.Errorf("%s allowed", k)
		}
	}
	// Every allowed key has a current value in a snapshot (or is optional).
	sc := idleHost().Snapshot.Sysctls
	for _, k := range keys {
		if _, ok := currentValue(sc, k); !ok && k != KeyTwReuseDelay {
			t.Errorf("no current value for %s", k)
		}
	}
}

func TestNormalizeValue(t *testing.T) {
	for in, want := range map[string]string{
		"32768\t60999":   "32768 60999",
		"  1  ":          "1",
		"":               "",
		"8080,9000-9100": "8080,9000-9100",
	} {
		if got := NormalizeValue(in); got != want {
			t.Errorf("NormalizeValue(%q) = %q, want %q", in, got, want)
		}
	}
	if got, _ := currentValue(advisor.Sysctls{Raw: map[string]string{"x": "1\t2"}}, "x"); got != "1 2" {
		t.Errorf("raw value %q", got)
	}
}
