package policytest

import (
	"os"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"

	"github.com/tcp-advisor/tcp-advisor/remediate"
)

// Update rewrites, in the test file at path, the expect block of each test
// that ran to the outcome its policies reached: the level, every change
// with its rule and value, every refusal with its rule and guardrail,
// every advice with its severity and the texts it was expected to contain
// that it still contains. Comments and the rest of the file stay.
func Update(path string, results []Result) error {
	src, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	f, diags := hclwrite.ParseConfig(src, path, hcl.InitialPos)
	if diags.HasErrors() {
		return diags
	}
	byName := map[string]Result{}
	for _, r := range results {
		if r.Err == nil && r.Test.File == path {
			byName[r.Test.Name] = r
		}
	}
	for _, b := range f.Body().Blocks() {
		if b.Type() != "test" || len(b.Labels()) != 1 {
			continue
		}
		r, ok := byName[b.Labels()[0]]
		if !ok {
			continue
		}
		expect := b.Body().FirstMatchingBlock("expect", nil)
		if expect == nil {
			expect = b.Body().AppendNewBlock("expect", nil)
		}
		writeExpect(expect.Body(), r.Plan, r.Test.Expect)
	}
	return os.WriteFile(path, f.Bytes(), 0o644)
}

func writeExpect(body *hclwrite.Body, p remediate.Plan, old Expectation) {
	for name := range body.Attributes() {
		body.RemoveAttribute(name)
	}
	for _, b := range body.Blocks() {
		body.RemoveBlock(b)
	}
	body.SetAttributeValue("level", cty.StringVal(string(p.Level)))
	for _, c := range p.Changes {
		b := body.AppendNewBlock("change", []string{c.Key}).Body()
		b.SetAttributeValue("rule", cty.StringVal(c.Rule))
		b.SetAttributeValue("to", cty.StringVal(c.To))
		keepContains(b, old.Changes, c.Key, c.Reason)
	}
	for _, r := range p.Refused {
		b := body.AppendNewBlock("refused", []string{r.Key}).Body()
		b.SetAttributeValue("rule", cty.StringVal(r.Rule))
		b.SetAttributeValue("guardrail", cty.StringVal(r.Guardrail))
		keepContains(b, old.Refused, r.Key, r.Reason)
	}
	for _, a := range p.Advice {
		b := body.AppendNewBlock("advice", []string{a.Rule}).Body()
		b.SetAttributeValue("severity", cty.StringVal(string(a.Severity)))
		keepContains(b, old.Advice, a.Rule, a.Message)
	}
}

// keepContains writes the texts the old expectation of label looked for
// that text still holds.
func keepContains(b *hclwrite.Body, old []Expected, label, text string) {
	var kept []cty.Value
	for _, x := range old {
		if x.Label != label {
			continue
		}
		for _, c := range x.Contains {
			if strings.Contains(text, c) {
				kept = append(kept, cty.StringVal(c))
			}
		}
	}
	switch len(kept) {
	case 0:
	case 1:
		b.SetAttributeValue("contains", kept[0])
	default:
		b.SetAttributeValue("contains", cty.ListVal(kept))
	}
}
