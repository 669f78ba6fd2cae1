package advisor

import "testing"

func TestParsePortRange(t *testing.T) {
	tests := []struct {
		in      string
		want    PortRange
		wantErr bool
	}{
		{"32768\t60999", PortRange{32768, 60999}, false},
		{" 40000 40999 \n", PortRange{40000, 40999}, false},
		{"40000", PortRange{}, true},
		{"a b", PortRange{}, true},
		{"60999 32768", PortRange{}, true},
		{"1024 65536", PortRange{}, true},
	}
	for _, tt := range tests {
		got, err := ParsePortRange(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParsePortRange(%q) = %v, %v; want %v, err=%v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestPortSet(t *testing.T) {
	tests := []struct {
		in       string
		str      string
		inRange  int // reserved inside 40000-40999
		contains []int
		wantErr  bool
	}{
		{"", "", 0, nil, false},
		{"8080,9000-9100", "8080,9000-9100", 0, []int{8080, 9000, 9050, 9100}, false},
		{"40500,40000-40009,40010", "40000-40010,40500", 12, []int{40000, 40010, 40500}, false},
		{"39990-40005,40995-41000", "39990-40005,40995-41000", 11, []int{40005, 40995}, false},
		{"80-", "", 0, nil, true},
		{"90-80", "", 0, nil, true},
		{"70000", "", 0, nil, true},
	}
	r := PortRange{40000, 40999}
	for _, tt := range tests {
		s, err := ParsePortSet(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParsePortSet(%q) err = %v", tt.in, err)
			continue
		}
		if err != nil {
			continue
		}
		if s.String() != tt.str {
			t.Errorf("ParsePortSet(%q).String() = %q, want %q", tt.in, s.String(), tt.str)
		}
		if got := s.CountIn(r); got != tt.inRange {
			t.Errorf("%q: CountIn = %d, want %d", tt.in, got, tt.inRange)
		}
		if got := UsablePorts(r, s); got != 1000-tt.inRange {
			t.Errorf("%q: UsablePorts = %d", tt.in, got)
		}
		for _, p := range tt.contains {
			if !s.Contains(p) {
				t.Errorf("%q does not contain %d", tt.in, p)
			}
		}
		if s.Contains(12345) {
			t.Errorf("%q contains 12345", tt.in)
		}
	}
}

func TestPortSetAdd(t *testing.T) {
	s, _ := ParsePortSet("8080")
	if got := s.Add(8081, 9000, 8079).String(); got != "8079-8081,9000" {
		t.Errorf("Add = %q", got)
	}
	if s.String() != "8080" {
		t.Errorf("Add changed its receiver: %q", s.String())
	}
}

func FuzzParsePortSet(f *testing.F) {
	for _, s := range []string{"", "8080", "8080,9000-9100", "1-65535", " 1 , 2-3 ", "90-80", "-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		set, err := ParsePortSet(s)
		if err != nil {
			return
		}
		// The kernel's syntax round-trips, and ranges stay sorted and apart.
		again, err := ParsePortSet(set.String())
		if err != nil || again.String() != set.String() {
			t.Fatalf("%q -> %q -> %q (%v)", s, set.String(), again.String(), err)
		}
		for i := 1; i < len(set); i++ {
			if set[i].Low <= set[i-1].High+1 {
				t.Fatalf("%q: ranges not normalized: %v", s, set)
			}
		}
	})
}

func FuzzParsePortRange(f *testing.F) {
	for _, s := range []string{"32768\t60999", "40000 40999", "1 1", "65535 0", "a b", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParsePortRange(s)
		if err != nil {
			return
		}
		if r.Low < 0 || r.High > 65535 || r.Low > r.High || r.Size() < 1 {
			t.Fatalf("%q parsed to invalid %v", s, r)
		}
		if again, err := ParsePortRange(r.String()); err != nil || again != r {
			t.Fatalf("%q: %v does not round-trip", s, r)
		}
	})
}
