package policies

import (
	"fmt"

	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/gocty"

	"github.com/tcp-advisor/tcp-advisor/advisor"
)

// viewType is the type of the observation variables but sysctl: the
// object gocty implies from advisor.View's cty tags. It does not depend on
// the values (lists are typed even when empty).
var viewType = func() cty.Type {
	t, err := gocty.ImpliedType(advisor.View{})
	if err != nil {
		panic(err) // a field of a type gocty cannot convert: a programming error
	}
	return t
}()

// variables returns the observation as the HCL variables rules read: the
// attributes of advisor.View, and sysctl, one attribute per registered
// key. Every variable is always present and never null (see advisor.View).
func variables(snap advisor.Snapshot, f advisor.Findings) map[string]cty.Value {
	view, err := viewValue(advisor.NewView(snap, f))
	if err != nil {
		// advisor.View holds only numbers, strings, bools, lists and
		// structs of them, which gocty always converts.
		panic(err)
	}
	vars := view.AsValueMap()
	vars["sysctl"] = sysctlVal(snap.Sysctls)
	return vars
}

// viewValue converts a view to its HCL object.
func viewValue(v advisor.View) (cty.Value, error) {
	val, err := gocty.ToCtyValue(v, viewType)
	if err != nil {
		return cty.NilVal, fmt.Errorf("observation variables: %w", err)
	}
	return val, nil
}

// sysctlVal is the sysctl variable: every registered key by its short name.
func sysctlVal(sc advisor.Sysctls) cty.Value {
	sysctls := map[string]cty.Value{}
	for _, k := range advisor.Registry() {
		switch k.Kind {
		case advisor.KindPortRange:
			sysctls[k.Short] = portRangeVal(sc.PortRange())
		case advisor.KindPortList:
			sysctls[k.Short] = cty.StringVal(sc.ReservedPorts().String())
		default:
			sysctls[k.Short] = cty.NumberIntVal(int64(sc.Int(k.Name)))
		}
	}
	return cty.ObjectVal(sysctls)
}

// variableTypes is the schema of the observation variables, checked at load
// time against every traversal a policy makes.
var variableTypes = func() map[string]cty.Type {
	out := map[string]cty.Type{}
	for k, v := range variables(advisor.Snapshot{}, advisor.Findings{}) {
		out[k] = v.Type()
	}
	return out
}()

// unknownVariables are the variables with every value unknown: evaluating an
// expression against them checks its types without an observation.
var unknownVariables = func() map[string]cty.Value {
	out := map[string]cty.Value{}
	for k, t := range variableTypes {
		out[k] = cty.UnknownVal(t)
	}
	return out
}()

func portRangeVal(r advisor.PortRange) cty.Value {
	return cty.ObjectVal(map[string]cty.Value{
		"low":  cty.NumberIntVal(int64(r.Low)),
		"high": cty.NumberIntVal(int64(r.High)),
		"size": cty.NumberIntVal(int64(r.Size())),
		"text": cty.StringVal(r.String()),
	})
}
