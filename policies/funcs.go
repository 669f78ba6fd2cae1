package policies

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"

	"github.com/tcp-advisor/tcp-advisor/advisor"
)

// functions returns the function library of the language. The helpers that
// respect guardrails (widen_port_range, bounded) read the set's guardrails
// and the observed sysctls, so the plan proposes values remediate accepts.
func (s *Set) functions(sc advisor.Sysctls) map[string]function.Function {
	return map[string]function.Function{
		// tcp-advisor helpers.
		"widen_port_range": s.widenPortRangeFunc(sc),
		"bounded":          s.boundedFunc(sc),
		"will_set":         s.willSetFunc(),
		"percent":          percentFunc,
		"duration":         durationFunc,
		"thousands":        thousandsFunc,
		"round":            roundFunc,
		"clamp":            clampFunc,
		"sum":              sumFunc,
		// From cty's standard library.
		"abs":        stdlib.AbsoluteFunc,
		"ceil":       stdlib.CeilFunc,
		"floor":      stdlib.FloorFunc,
		"min":        stdlib.MinFunc,
		"max":        stdlib.MaxFunc,
		"pow":        stdlib.PowFunc,
		"log":        stdlib.LogFunc,
		"signum":     stdlib.SignumFunc,
		"parseint":   stdlib.ParseIntFunc,
		"format":     boundedFormat(stdlib.FormatFunc),
		"formatlist": boundedFormat(stdlib.FormatListFunc),
		"join":       stdlib.JoinFunc,
		"split":      stdlib.SplitFunc,
		"replace":    stdlib.ReplaceFunc,
		"upper":      stdlib.UpperFunc,
		"lower":      stdlib.LowerFunc,
		"trimspace":  stdlib.TrimSpaceFunc,
		"strlen":     stdlib.StrlenFunc,
		"substr":     stdlib.SubstrFunc,
		"length":     stdlib.LengthFunc,
		"contains":   stdlib.ContainsFunc,
		"coalesce":   stdlib.CoalesceFunc,
		"concat":     stdlib.ConcatFunc,
		"slice":      stdlib.SliceFunc,
		"sort":       stdlib.SortFunc,
		"distinct":   stdlib.DistinctFunc,
		"element":    stdlib.ElementFunc,
		"lookup":     stdlib.LookupFunc,
		"keys":       stdlib.KeysFunc,
		"values":     stdlib.ValuesFunc,
	}
}

// widenLimits bound how far widenPortRange may go.
type widenLimits struct {
	floor   int   // lowest low allowed; the current low unless the guardrail opts in
	ceiling int   // highest high allowed
	maxStep int64 // most ports added per change; 0 means no limit
}

// portRangeLimits returns the limits the port range guardrail and the
// host's ip_unprivileged_port_start put on widening cur. The low end stays
// where it is unless the guardrail sets low_floor.
func (s *Set) portRangeLimits(sc advisor.Sysctls, cur advisor.PortRange) widenLimits {
	g := s.Guardrail(advisor.KeyPortRange)
	l := widenLimits{floor: cur.Low, ceiling: 65535}
	if g.LowFloor != nil {
		l.floor = min(cur.Low, int(*g.LowFloor))
		// The kernel refuses a low below ip_unprivileged_port_start
		// (ipv4_local_port_range in net/ipv4/sysctl_net_ipv4.c).
		l.floor = max(l.floor, sc.Int(advisor.KeyUnprivilegedPortStart), int(*g.Min))
	}
	l.ceiling = min(l.ceiling, int(max(*g.Max, 0)))
	// A reserved block of ports above the range — ports services open on
	// demand, such as reserve = ["49152-65535"] — is a ceiling: the range
	// grows up to it, not into it, since the ports it took in would be
	// reserved again and add nothing. Single reserved ports are reserved
	// in ip_local_reserved_ports when the range takes them in.
	for _, r := range g.Reserve {
		if r.High > r.Low && r.Low > cur.High {
			l.ceiling = min(l.ceiling, r.Low-1)
			break
		}
	}
	if g.MaxStep != nil {
		l.maxStep = *g.MaxStep
	}
	return l
}

// widenPortRange returns cur widened to target ports, within l. It never
// shrinks the range. It raises high, towards the ceiling (65535 or the
// guardrail's max), and lowers low only down to l.floor, which is cur.Low
// unless the guardrail opts in: ports below the range may be a service's.
// It makes low and high of different parity, as ip-sysctl.rst advises
// (connect() and bind() prefer different parities), when it can do so
// without leaving the limits. A target at or below the current size, a
// range already outside the limits, or limits that leave no room return
// cur unchanged.
func widenPortRange(cur advisor.PortRange, target int64, l widenLimits) advisor.PortRange {
	size := int64(cur.Size())
	if l.maxStep > 0 && target > size+l.maxStep {
		target = size + l.maxStep
	}
	// A range already outside the limits is left alone: any wider range
	// would keep the part the guardrails refuse.
	if target <= size || cur.Low > cur.High || cur.Low < l.floor || cur.High > l.ceiling {
		return cur
	}
	t := int(min(target, 65536))
	hi := max(cur.High, min(l.ceiling, cur.Low+t-1))
	lo := cur.Low
	if hi-lo+1 < t {
		lo = min(cur.Low, max(l.floor, hi-t+1))
	}
	valid := func(lo, hi int) bool {
		n := int64(hi - lo + 1)
		return lo <= cur.Low && hi >= cur.High && lo >= l.floor && hi <= l.ceiling &&
			n > size && (l.maxStep <= 0 || n-size <= l.maxStep)
	}
	if !valid(lo, hi) {
		return cur
	}
	if (lo+hi)%2 == 0 {
		// Fix parity by one port: short of the target, add one, above
		// first; at the target, give one back, above first (low stays).
		grow := [][2]int{{lo, hi + 1}, {lo - 1, hi}}
		shrink := [][2]int{{lo, hi - 1}, {lo + 1, hi}}
		cands := append(shrink, grow...)
		if hi-lo+1 < t {
			cands = append(grow, shrink...)
		}
		for _, c := range cands {
			if valid(c[0], c[1]) {
				lo, hi = c[0], c[1]
				break
			}
		}
	}
	return advisor.PortRange{Low: lo, High: hi}
}

// portRangeArg reads a port range from a "low high" string, an object with
// low and high (sysctl.ip_local_port_range) or a two-element list.
func portRangeArg(v cty.Value) (advisor.PortRange, error) {
	bad := errors.New(`want a port range: "low high", an object with low and high, or [low, high]`)
	if v.IsNull() {
		return advisor.PortRange{}, bad
	}
	t := v.Type()
	var lo, hi cty.Value
	switch {
	case t == cty.String:
		return advisor.ParsePortRange(v.AsString())
	case t.IsObjectType() && t.HasAttribute("low") && t.HasAttribute("high"):
		lo, hi = v.GetAttr("low"), v.GetAttr("high")
	case (t.IsListType() || t.IsTupleType()) && v.LengthInt() == 2:
		lo, hi = v.Index(cty.NumberIntVal(0)), v.Index(cty.NumberIntVal(1))
	default:
		return advisor.PortRange{}, bad
	}
	a, err1 := intArg(lo)
	b, err2 := intArg(hi)
	if err1 != nil || err2 != nil {
		return advisor.PortRange{}, bad
	}
	if a < 0 || b > 65535 || a > b {
		return advisor.PortRange{}, fmt.Errorf("port range %d %d: want 0 <= low <= high <= 65535", a, b)
	}
	return advisor.PortRange{Low: int(a), High: int(b)}, nil
}

// intArg returns an integral number value as int64.
func intArg(v cty.Value) (int64, error) {
	if v.IsNull() || !v.IsKnown() {
		return 0, errors.New("want a number")
	}
	n, err := convertNumber(v)
	if err != nil {
		return 0, err
	}
	bf := n.AsBigFloat()
	if !bf.IsInt() {
		return 0, fmt.Errorf("want a whole number, got %s", bf.Text('g', -1))
	}
	i, acc := bf.Int64()
	if acc != big.Exact {
		return 0, errors.New("number out of range")
	}
	return i, nil
}

func convertNumber(v cty.Value) (cty.Value, error) {
	if v.Type() == cty.Number {
		return v, nil
	}
	if v.Type() == cty.String {
		f, err := strconv.ParseFloat(strings.TrimSpace(v.AsString()), 64)
		if err != nil {
			return cty.NilVal, fmt.Errorf("want a number, got %q", v.AsString())
		}
		return cty.NumberFloatVal(f), nil
	}
	return cty.NilVal, fmt.Errorf("want a number, got %s", v.Type().FriendlyName())
}

// ceilInt returns a number rounded up to a whole int64, saturating.
func ceilInt(v cty.Value) int64 {
	f, _ := v.AsBigFloat().Float64()
	f = math.Ceil(f)
	switch {
	case math.IsNaN(f):
		return 0
	case f >= math.MaxInt64:
		return math.MaxInt64
	case f <= math.MinInt64:
		return math.MinInt64
	}
	return int64(f)
}

func (s *Set) widenPortRangeFunc(sc advisor.Sysctls) function.Function {
	return function.New(&function.Spec{
		Description: `Returns the port range widened to target_size ports, as "low high", within the guardrails.`,
		Params: []function.Parameter{
			{Name: "range", Type: cty.DynamicPseudoType},
			{Name: "target_size", Type: cty.Number},
		},
		Type: function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			if !args[0].IsWhollyKnown() {
				return cty.UnknownVal(cty.String), nil
			}
			cur, err := portRangeArg(args[0])
			if err != nil {
				return cty.NilVal, function.NewArgError(0, err)
			}
			r := widenPortRange(cur, ceilInt(args[1]), s.portRangeLimits(sc, cur))
			return cty.StringVal(r.String()), nil
		},
	})
}

// willSetFunc is will_set(rule, key, value): whether the set can propose
// value for key through rule — the rule is loaded, not disabled, sets key,
// and key's guardrail allows value. A rule that leaves room for a smaller
// change another rule makes asks it first, so that a disabled rule or a
// guardrail that forbids the value does not leave the shortage unhandled.
func (s *Set) willSetFunc() function.Function {
	return function.New(&function.Spec{
		Description: "Returns whether rule can propose value for key: enabled, setting key, and within key's guardrail.",
		Params: []function.Parameter{
			{Name: "rule", Type: cty.String},
			{Name: "key", Type: cty.String},
			{Name: "value", Type: cty.Number},
		},
		Type: function.StaticReturnType(cty.Bool),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			name, key := args[0].AsString(), args[1].AsString()
			if _, off := s.Disabled[name]; off {
				return cty.False, nil
			}
			i := slices.IndexFunc(s.Rules, func(r *Rule) bool { return r.Name == name })
			if i < 0 || !slices.Contains(s.Rules[i].Keys, key) {
				return cty.False, nil
			}
			v := ceilInt(args[2])
			g := s.Guardrail(key)
			ok := (g.Min == nil || v >= *g.Min) && (g.Max == nil || v <= *g.Max) &&
				(len(g.Allowed) == 0 || slices.Contains(g.Allowed, strconv.FormatInt(v, 10)))
			return cty.BoolVal(ok), nil
		},
	})
}

func (s *Set) boundedFunc(sc advisor.Sysctls) function.Function {
	return function.New(&function.Spec{
		Description: "Returns value clamped to the guardrail of key: its min and max, and at most max_step away from the current value.",
		Params: []function.Parameter{
			{Name: "key", Type: cty.String},
			{Name: "value", Type: cty.Number},
		},
		Type: function.StaticReturnType(cty.Number),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			key := args[0].AsString()
			if err := advisor.CheckSettable(key); err != nil {
				return cty.NilVal, function.NewArgError(0, err)
			}
			if k, _ := advisor.LookupSysctl(key); k.Kind != advisor.KindInt {
				return cty.NilVal, function.NewArgError(0, fmt.Errorf("%s is not a number; use widen_port_range for the port range", key))
			}
			g := s.Guardrail(key)
			v := ceilInt(args[1])
			if cur, ok := sc.Value(key); ok && g.MaxStep != nil {
				if c, err := strconv.ParseInt(cur, 10, 64); err == nil {
					v = min(max(v, c-*g.MaxStep), c+*g.MaxStep)
				}
			}
			v = min(max(v, *g.Min), *g.Max)
			return cty.NumberIntVal(v), nil
		},
	})
}

var percentFunc = function.New(&function.Spec{
	Description: `Formats a ratio as a percentage: percent(0.9) is "90%", percent(0.8567) is "85.7%".`,
	Params:      []function.Parameter{{Name: "ratio", Type: cty.Number}},
	Type:        function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		f, _ := args[0].AsBigFloat().Float64()
		s := strconv.FormatFloat(math.Round(f*1000)/10, 'f', 1, 64)
		return cty.StringVal(strings.TrimSuffix(s, ".0") + "%"), nil
	},
})

var thousandsFunc = function.New(&function.Spec{
	Description: `Formats a number rounded to a whole one with thousands separated: thousands(7769) is "7,769".`,
	Params:      []function.Parameter{{Name: "num", Type: cty.Number}},
	Type:        function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		f, _ := args[0].AsBigFloat().Float64()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return cty.StringVal(strconv.FormatFloat(f, 'f', -1, 64)), nil
		}
		digits := strconv.FormatFloat(math.Abs(math.Round(f)), 'f', 0, 64)
		var b strings.Builder
		if math.Round(f) < 0 {
			b.WriteByte('-')
		}
		for i, d := range digits {
			if i > 0 && (len(digits)-i)%3 == 0 {
				b.WriteByte(',')
			}
			b.WriteRune(d)
		}
		return cty.StringVal(b.String()), nil
	},
})

var durationFunc = function.New(&function.Spec{
	Description: `Formats seconds as a duration such as "4m10s"; under a second gives "under a second", a negative number (unknown) "unknown".`,
	Params:      []function.Parameter{{Name: "seconds", Type: cty.Number}},
	Type:        function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		f, _ := args[0].AsBigFloat().Float64()
		switch {
		case f < 0 || math.IsNaN(f):
			return cty.StringVal("unknown"), nil
		case f > float64(math.MaxInt64/int64(time.Second)):
			return cty.StringVal("forever"), nil
		case f < 1:
			return cty.StringVal("under a second"), nil
		}
		return cty.StringVal((time.Duration(f * float64(time.Second))).Round(time.Second).String()), nil
	},
})

var roundFunc = function.New(&function.Spec{
	Description: "Rounds a number to the nearest whole number, or to the given number of decimals.",
	Params:      []function.Parameter{{Name: "num", Type: cty.Number}},
	VarParam:    &function.Parameter{Name: "decimals", Type: cty.Number},
	Type:        function.StaticReturnType(cty.Number),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		if len(args) > 2 {
			return cty.NilVal, errors.New("round takes a number and at most one count of decimals")
		}
		f, _ := args[0].AsBigFloat().Float64()
		d := int64(0)
		if len(args) == 2 {
			var err error
			if d, err = intArg(args[1]); err != nil || d < 0 || d > 10 {
				return cty.NilVal, function.NewArgErrorf(1, "decimals: want a whole number from 0 to 10")
			}
		}
		p := math.Pow(10, float64(d))
		r := math.Round(f*p) / p
		if math.IsNaN(r) || math.IsInf(r, 0) {
			return args[0], nil
		}
		return cty.NumberFloatVal(r), nil
	},
})

var clampFunc = function.New(&function.Spec{
	Description: "Returns num limited to the range [lo, hi].",
	Params: []function.Parameter{
		{Name: "num", Type: cty.Number},
		{Name: "lo", Type: cty.Number},
		{Name: "hi", Type: cty.Number},
	},
	Type: function.StaticReturnType(cty.Number),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		v, lo, hi := args[0], args[1], args[2]
		if lo.GreaterThan(hi).True() {
			return cty.NilVal, function.NewArgErrorf(1, "lo must not exceed hi")
		}
		if v.LessThan(lo).True() {
			return lo, nil
		}
		if v.GreaterThan(hi).True() {
			return hi, nil
		}
		return v, nil
	},
})

var sumFunc = function.New(&function.Spec{
	Description: "Returns the sum of a list of numbers (0 for an empty list).",
	Params:      []function.Parameter{{Name: "list", Type: cty.List(cty.Number)}},
	Type:        function.StaticReturnType(cty.Number),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		total := cty.Zero
		for it := args[0].ElementIterator(); it.Next(); {
			_, v := it.Element()
			if v.IsNull() {
				return cty.NilVal, function.NewArgErrorf(0, "list holds a null")
			}
			total = total.Add(v)
		}
		return total, nil
	},
})

// unknownResult wraps f so that it checks its arguments as f does but
// returns an unknown value: for load-time checks of helpers whose result
// depends on the live host.
func unknownResult(f function.Function) function.Function {
	return function.New(&function.Spec{
		Description: f.Description(),
		Params:      f.Params(),
		VarParam:    f.VarParam(),
		Type:        f.ReturnTypeForValues,
		Impl: func(args []cty.Value, ret cty.Type) (cty.Value, error) {
			if _, err := f.Call(args); err != nil {
				return cty.NilVal, err
			}
			return cty.UnknownVal(ret), nil
		},
	})
}

// staticFunctions is the function library for load-time checks: the
// helpers that read live state return unknown values there.
func (s *Set) staticFunctions() map[string]function.Function {
	fs := s.functions(advisor.Sysctls{})
	for _, name := range []string{"widen_port_range", "bounded", "will_set"} {
		fs[name] = unknownResult(fs[name])
	}
	return fs
}

// maxFormatWidth bounds the widths and precisions of format verbs: a policy
// has no use for more, and format("%999999999d", 1) would allocate a
// gigabyte.
const maxFormatWidth = 1000

// widthRE finds the width and precision digits of format verbs.
var widthRE = regexp.MustCompile(`%[-+# 0]*([0-9]*)(?:\.([0-9]*))?`)

// boundedFormat wraps format or formatlist to refuse widths and precisions
// above maxFormatWidth.
func boundedFormat(f function.Function) function.Function {
	return function.New(&function.Spec{
		Description: f.Description(),
		Params:      f.Params(),
		VarParam:    f.VarParam(),
		Type: func(args []cty.Value) (cty.Type, error) {
			return f.ReturnTypeForValues(args)
		},
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			if len(args) > 0 && args[0].IsKnown() && !args[0].IsNull() && args[0].Type() == cty.String {
				for _, m := range widthRE.FindAllStringSubmatch(args[0].AsString(), -1) {
					for _, digits := range m[1:] {
						if n, err := strconv.Atoi(digits); err == nil && n > maxFormatWidth {
							return cty.NilVal, function.NewArgErrorf(0, "a width or precision of %d is more than %d", n, maxFormatWidth)
						}
					}
				}
			}
			return f.Call(args)
		},
	})
}
