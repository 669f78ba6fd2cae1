package advisor

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// PortRange is net.ipv4.ip_local_port_range: the inclusive range of local
// ports the kernel picks from for connect() without a prior bind().
type PortRange struct {
	Low  int `json:"low"`
	High int `json:"high"`
}

// ParsePortRange parses a value such as "32768\t60999" or "40000 40999".
func ParsePortRange(s string) (PortRange, error) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return PortRange{}, fmt.Errorf("port range %q: want two numbers", s)
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil {
		return PortRange{}, fmt.Errorf("port range %q: not numbers", s)
	}
	if lo < 0 || hi > 65535 || lo > hi {
		return PortRange{}, fmt.Errorf("port range %q: want 0 <= low <= high <= 65535", s)
	}
	return PortRange{Low: lo, High: hi}, nil
}

// Size is the number of ports in the range.
func (r PortRange) Size() int {
	if r.High < r.Low {
		return 0
	}
	return r.High - r.Low + 1
}

// Contains reports whether port lies inside the range.
func (r PortRange) Contains(port int) bool { return port >= r.Low && port <= r.High }

// String formats the range the way the kernel accepts it: "low high".
func (r PortRange) String() string { return fmt.Sprintf("%d %d", r.Low, r.High) }

// PortSet is a set of ports kept as sorted, disjoint, non-adjacent inclusive
// ranges, the shape of net.ipv4.ip_local_reserved_ports.
type PortSet []PortRange

// ParsePortSet parses the kernel's list syntax: "8080,9000-9100" (empty means
// no ports).
func ParsePortSet(s string) (PortSet, error) {
	var out PortSet
	for _, part := range strings.Split(strings.TrimSpace(s), ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(strings.TrimSpace(lo))
		if err != nil {
			return nil, fmt.Errorf("port list %q: %q is not a port", s, part)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(strings.TrimSpace(hi)); err != nil {
				return nil, fmt.Errorf("port list %q: %q is not a range", s, part)
			}
		}
		if a < 0 || b > 65535 || a > b {
			return nil, fmt.Errorf("port list %q: %q is out of order or range", s, part)
		}
		out = append(out, PortRange{Low: a, High: b})
	}
	return out.normalize(), nil
}

func (p PortSet) normalize() PortSet {
	if len(p) == 0 {
		return nil
	}
	s := append(PortSet(nil), p...)
	sort.Slice(s, func(i, j int) bool { return s[i].Low < s[j].Low })
	out := s[:1]
	for _, r := range s[1:] {
		last := &out[len(out)-1]
		if r.Low <= last.High+1 {
			last.High = max(last.High, r.High)
			continue
		}
		out = append(out, r)
	}
	return out
}

// Add returns the set with the given ports added.
func (p PortSet) Add(ports ...int) PortSet {
	out := append(PortSet(nil), p...)
	for _, port := range ports {
		out = append(out, PortRange{Low: port, High: port})
	}
	return out.normalize()
}

// Union returns the ports in either set.
func (p PortSet) Union(q PortSet) PortSet {
	return append(append(PortSet(nil), p...), q...).normalize()
}

// Minus returns the ports of p that are not in q.
func (p PortSet) Minus(q PortSet) PortSet {
	var out PortSet
	for _, r := range p {
		lo := r.Low
		for _, x := range q {
			if x.High < lo || x.Low > r.High {
				continue
			}
			if x.Low > lo {
				out = append(out, PortRange{Low: lo, High: x.Low - 1})
			}
			lo = x.High + 1
		}
		if lo <= r.High {
			out = append(out, PortRange{Low: lo, High: r.High})
		}
	}
	return out.normalize()
}

// Within returns the ports of p inside r.
func (p PortSet) Within(r PortRange) PortSet {
	var out PortSet
	for _, x := range p {
		if lo, hi := max(x.Low, r.Low), min(x.High, r.High); lo <= hi {
			out = append(out, PortRange{Low: lo, High: hi})
		}
	}
	return out
}

// Contains reports whether port is in the set.
func (p PortSet) Contains(port int) bool {
	i := sort.Search(len(p), func(i int) bool { return p[i].High >= port })
	return i < len(p) && p[i].Low <= port
}

// CountIn returns how many ports of the set lie inside r.
func (p PortSet) CountIn(r PortRange) int {
	n := 0
	for _, x := range p {
		lo, hi := max(x.Low, r.Low), min(x.High, r.High)
		if lo <= hi {
			n += hi - lo + 1
		}
	}
	return n
}

// String formats the set in the kernel's list syntax, "8080,9000-9100".
func (p PortSet) String() string {
	parts := make([]string, len(p))
	for i, r := range p {
		if r.Low == r.High {
			parts[i] = strconv.Itoa(r.Low)
		} else {
			parts[i] = fmt.Sprintf("%d-%d", r.Low, r.High)
		}
	}
	return strings.Join(parts, ",")
}

// UsablePorts is the number of ports connect() can pick for one destination:
// the range size minus the reserved ports inside it (ip-sysctl.rst,
// ip_local_reserved_ports).
func UsablePorts(r PortRange, reserved PortSet) int {
	return r.Size() - reserved.CountIn(r)
}
