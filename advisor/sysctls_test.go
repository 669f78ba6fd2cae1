package advisor

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestRegistryEntriesAreComplete(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range Registry() {
		if seen[k.Name] || seen[k.Short] {
			t.Errorf("%s registered twice", k.Name)
		}
		seen[k.Name], seen[k.Short] = true, true
		if !strings.HasSuffix(k.Name, "."+k.Short) {
			t.Errorf("%s: short name %q is not its last part", k.Name, k.Short)
		}
		if k.Values == "" || k.Governs == "" {
			t.Errorf("%s: says neither what its values mean nor what it governs", k.Name)
		}
		if k.Settable == (k.NotSettable != "") {
			t.Errorf("%s: Settable and NotSettable disagree", k.Name)
		}
		if k.Kind != KindPortList && k.Min > k.Max {
			t.Errorf("%s: min %d above max %d", k.Name, k.Min, k.Max)
		}
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		key, value, err string
	}{
		{KeyPortRange, "32768 60999", ""},
		{KeyPortRange, "60999 32768", "want 0 <= low <= high"},
		{KeyPortRange, "40000 40000", "low must be below high"},
		{KeyPortRange, "1023 60999", "low below 1024"},
		{KeyPortRange, "32768 65536", "high <= 65535"},
		{KeyPortRange, "32768", "want two numbers"},
		{KeyReservedPorts, "8080,9000-9100", ""},
		{KeyReservedPorts, "", ""},
		{KeyReservedPorts, "9100-9000", "out of order"},
		{KeyTwReuse, "2", ""},
		{KeyTwReuse, "3", "outside 0..2"},
		{KeyTwReuse, "on", "not an integer"},
		{KeyTwReuseDelay, "0", "outside 1..60000"},
		{KeyFinTimeout, "121", "outside 1..120"},
		{KeySyncookies, "0", "outside 1..2"},
	}
	for _, tt := range tests {
		k, ok := LookupSysctl(tt.key)
		if !ok {
			t.Fatalf("%s not registered", tt.key)
		}
		err := k.Check(tt.value)
		if (tt.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("%s %q: err = %v, want %q", tt.key, tt.value, err, tt.err)
		}
	}
}

func TestCheckSettable(t *testing.T) {
	tests := []struct{ key, err string }{
		{KeyPortRange, ""},
		{KeyTwReuse, ""},
		{"net.ipv4.tcp_tw_recycle", "removed in Linux 4.12"},
		{KeyTimestamps, "PAWS"},
		{KeyUnprivilegedPortStart, "security setting"},
		{"kernel.panic", "not a TCP/port sysctl"},
		{"net/ipv4/tcp_tw_reuse", `write sysctl names with dots: "net.ipv4.tcp_tw_reuse"`},
	}
	for _, tt := range tests {
		err := CheckSettable(tt.key)
		if (tt.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("%s: err = %v, want %q", tt.key, err, tt.err)
		}
	}
}

func TestSysctls(t *testing.T) {
	s, err := NewSysctls(map[string]string{KeyPortRange: "32768\t60999", KeyReservedPorts: "8080, 32800-32809", KeyTwReuse: "2"})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Value(KeyPortRange); v != "32768 60999" {
		t.Errorf("value not normalized: %q", v)
	}
	if s.PortRange() != (PortRange{32768, 60999}) || s.UsablePorts() != 28232-10 || s.Int(KeyTwReuse) != 2 {
		t.Errorf("typed views: %v %d %d", s.PortRange(), s.UsablePorts(), s.Int(KeyTwReuse))
	}
	// An absent optional key reads as its registered default.
	if s.Int(KeyTwReuseDelay) != 1000 || s.Has(KeyTwReuseDelay) {
		t.Errorf("tcp_tw_reuse_delay absent: %d %v", s.Int(KeyTwReuseDelay), s.Has(KeyTwReuseDelay))
	}
	if s.InitialNamespace() {
		t.Error("no tcp_max_orphans, yet the initial namespace")
	}
	w := s.With(KeyTwReuse, "1")
	if s.Int(KeyTwReuse) != 2 || w.Int(KeyTwReuse) != 1 {
		t.Error("With changed the original")
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back Sysctls
	if err := json.Unmarshal(b, &back); err != nil || back.PortRange() != s.PortRange() || len(back.Keys()) != 3 {
		t.Errorf("round trip %s: %v %v", b, back.Keys(), err)
	}
	if _, err := NewSysctls(map[string]string{KeyTwReuse: "x"}); err == nil {
		t.Error("a non-integer tcp_tw_reuse was accepted")
	}
}
