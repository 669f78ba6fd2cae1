package policies

import (
	"cmp"
	"reflect"
	"slices"

	"github.com/hashicorp/hcl/v2"
)

// The blocks of a policy file, as gohcl decodes them. A file decodes in two
// steps, so that each block's diagnostics come at its turn and a block that
// does not decode is left out alone: policyFile takes the blocks' headers
// (labels and ranges) and their bodies whole; each body decodes into its
// attribute struct when the loader reaches it. Attributes stay
// *hcl.Attribute: the loader evaluates each with the checks it needs (a
// constant of a type, an expression over the observation), so every
// diagnostic points at the attribute's own file:line:column. Adding an
// attribute is a field here and its check in the loader.
type policyFile struct {
	Agents     []*unlabeled `hcl:"agent,block"`
	Locals     []*unlabeled `hcl:"locals,block"`
	Guardrails []*keyed     `hcl:"guardrail,block"`
	Rules      []*named     `hcl:"rule,block"`
}

// unlabeled is the header of a block without labels (agent, locals) and
// its undecoded body.
type unlabeled struct {
	DefRange hcl.Range `hcl:",def_range"`
	Body     hcl.Body  `hcl:",remain"`
}

// keyed is the header of a block labeled with a sysctl key (guardrail,
// set) and its undecoded body.
type keyed struct {
	Key      string    `hcl:"key,label"`
	KeyRange hcl.Range `hcl:"key,label_range"`
	DefRange hcl.Range `hcl:",def_range"`
	Body     hcl.Body  `hcl:",remain"`
}

// named is the header of a rule block and its undecoded body.
type named struct {
	Name      string    `hcl:"name,label"`
	NameRange hcl.Range `hcl:"name,label_range"`
	DefRange  hcl.Range `hcl:",def_range"`
	Body      hcl.Body  `hcl:",remain"`
}

// block is any of them, with its type, for walking a file in order.
type block struct {
	Type       string
	Label      string // the key or name; empty for agent and locals
	LabelRange hcl.Range
	DefRange   hcl.Range
	Body       hcl.Body
}

func (b *unlabeled) block(typ string) *block {
	return &block{Type: typ, DefRange: b.DefRange, Body: b.Body}
}

func (b *keyed) block(typ string) *block {
	return &block{Type: typ, Label: b.Key, LabelRange: b.KeyRange, DefRange: b.DefRange, Body: b.Body}
}

func (b *named) block(typ string) *block {
	return &block{Type: typ, Label: b.Name, LabelRange: b.NameRange, DefRange: b.DefRange, Body: b.Body}
}

// blocks returns the file's blocks in the order it declares them.
func (f policyFile) blocks() []*block {
	all := slices.Concat(asBlocks("agent", f.Agents), asBlocks("locals", f.Locals),
		asBlocks("guardrail", f.Guardrails), asBlocks("rule", f.Rules))
	slices.SortStableFunc(all, func(a, b *block) int { return cmp.Compare(a.DefRange.Start.Byte, b.DefRange.Start.Byte) })
	return all
}

// asBlocks turns decoded headers of one type into blocks.
func asBlocks[H interface{ block(string) *block }](typ string, headers []H) []*block {
	out := make([]*block, len(headers))
	for i, h := range headers {
		out[i] = h.block(typ)
	}
	return out
}

// agentBody is the body of an agent block.
type agentBody struct {
	Mode              *hcl.Attribute `hcl:"mode,optional"`
	Interval          *hcl.Attribute `hcl:"interval,optional"`
	Persist           *hcl.Attribute `hcl:"persist,optional"`
	PersistPath       *hcl.Attribute `hcl:"persist_path,optional"`
	Defaults          *hcl.Attribute `hcl:"defaults,optional"`
	EnforceNamespaces *hcl.Attribute `hcl:"enforce_namespaces,optional"`
}

// guardrailBody is the body of a guardrail block.
type guardrailBody struct {
	Min                *hcl.Attribute `hcl:"min,optional"`
	Max                *hcl.Attribute `hcl:"max,optional"`
	Allowed            *hcl.Attribute `hcl:"allowed,optional"`
	MaxStep            *hcl.Attribute `hcl:"max_step,optional"`
	Cooldown           *hcl.Attribute `hcl:"cooldown,optional"`
	AllowPrivilegedLow *hcl.Attribute `hcl:"allow_privileged_low,optional"`
	LowFloor           *hcl.Attribute `hcl:"low_floor,optional"`
	Reserve            *hcl.Attribute `hcl:"reserve,optional"`
}

// ruleBody is the body of a rule block; its set blocks' bodies decode in
// their turn too.
type ruleBody struct {
	Enabled  *hcl.Attribute `hcl:"enabled,optional"`
	Topic    *hcl.Attribute `hcl:"topic,optional"`
	Severity *hcl.Attribute `hcl:"severity,optional"`
	When     *hcl.Attribute `hcl:"when,optional"`
	Message  *hcl.Attribute `hcl:"message,optional"`
	Advice   *hcl.Attribute `hcl:"advice,optional"`
	Sets     []*keyed       `hcl:"set,block"`
}

// setBody is the body of a rule's set block.
type setBody struct {
	Value *hcl.Attribute `hcl:"value"`
}

// present returns the attributes a decoded body struct holds, in field
// order.
func present(body any) []*hcl.Attribute {
	var out []*hcl.Attribute
	v := reflect.ValueOf(body)
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	for i := range v.NumField() {
		if a, ok := v.Field(i).Interface().(*hcl.Attribute); ok && a != nil {
			out = append(out, a)
		}
	}
	return out
}
