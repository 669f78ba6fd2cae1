package policies

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
)

// The schema of a policy file.
var (
	fileSchema = &hcl.BodySchema{
		Blocks: []hcl.BlockHeaderSchema{
			{Type: "agent"},
			{Type: "guardrail", LabelNames: []string{"key"}},
			{Type: "rule", LabelNames: []string{"name"}},
		},
	}
	agentSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{
			{Name: "mode"}, {Name: "interval"}, {Name: "persist"}, {Name: "persist_path"},
		},
	}
	guardrailSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{
			{Name: "min"}, {Name: "max"}, {Name: "allowed"}, {Name: "max_step"},
			{Name: "cooldown"}, {Name: "allow_privileged_low"}, {Name: "reserve"},
		},
	}
	ruleSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{
			{Name: "severity"}, {Name: "when", Required: true}, {Name: "message"}, {Name: "advice"},
		},
		Blocks: []hcl.BlockHeaderSchema{{Type: "set", LabelNames: []string{"key"}}},
	}
	setSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "value", Required: true}},
	}
)

// ruleName is what a rule label may look like: it names the rule in plans,
// journal entries and metrics.
var ruleName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// source is one policy file's name and content.
type source struct {
	name string
	src  []byte
}

// Load reads, merges and validates policy files and directories (a
// directory contributes its *.hcl files in name order, skipping hidden
// files). It needs no observation: syntax, schema, types, observation
// names, keys and literal values are all checked here, and every
// diagnostic carries the file, line and column. On errors the set is nil;
// warnings come with a usable set.
//
// Merging: an agent block may appear once across all files; rule names
// are unique across all files; guardrails for the same key merge and the
// tighter bound wins.
func Load(paths ...string) (*Set, hcl.Diagnostics) {
	srcs, diags := readSources(paths)
	if diags.HasErrors() {
		return nil, diags
	}
	set, more := load(srcs)
	diags = append(diags, more...)
	if set != nil && len(set.Rules) == 0 {
		diags = append(diags, noRules(set))
	}
	return set, diags
}

// noRules warns about a set without rules: it observes and reports but
// never recommends or changes anything. The likely cause is a policy
// directory holding only an agent block, written in the belief that the
// embedded rules still apply; they do not once the directory holds a
// policy file. The warning points at the agent block when there is one,
// else at the start of the first file.
func noRules(set *Set) *hcl.Diagnostic {
	subject := set.Settings.Range
	if subject.Filename == "" && len(set.Files) > 0 {
		start := hcl.Pos{Line: 1, Column: 1}
		subject = hcl.Range{Filename: set.Files[0], Start: start, End: start}
	}
	return &hcl.Diagnostic{
		Severity: hcl.DiagWarning,
		Summary:  "No rules",
		Detail: fmt.Sprintf("The policy set (%s) declares no rule: tcp-advisor will observe but never recommend or change anything. "+
			"Policy files replace the embedded default policies rather than add to them; "+
			"to keep the default rules next to your own settings, copy the default *.hcl files (packages install them in /usr/share/tcp-advisor/policies) into the policy directory.",
			strings.Join(set.Files, ", ")),
		Subject: subject.Ptr(),
	}
}

// Validate checks policy files and directories as Load does and returns
// only the diagnostics: what `tcp-advisor validate` reports.
func Validate(paths ...string) hcl.Diagnostics {
	_, diags := Load(paths...)
	return diags
}

// readSources reads the named files and the *.hcl files of the named
// directories, each file once.
func readSources(paths []string) ([]source, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	var out []source
	seen := map[string]bool{}
	add := func(name string) {
		abs, err := filepath.Abs(name)
		if err == nil {
			if seen[abs] {
				return
			}
			seen[abs] = true
		}
		src, err := os.ReadFile(name)
		if err != nil {
			diags = append(diags, fileError(name, "Cannot read policy file", err.Error()))
			return
		}
		out = append(out, source{name: name, src: src})
	}
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			diags = append(diags, fileError(p, "Cannot read policy path", err.Error()))
			continue
		}
		if !fi.IsDir() {
			add(p)
			continue
		}
		files, err := dirPolicyFiles(p)
		if err != nil {
			diags = append(diags, fileError(p, "Cannot read policy directory", err.Error()))
			continue
		}
		for _, f := range files {
			add(f)
		}
		if len(files) == 0 {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagWarning,
				Summary:  "No policy files",
				Detail:   fmt.Sprintf("Directory %s holds no *.hcl files.", p),
				Subject:  &hcl.Range{Filename: p},
			})
		}
	}
	if len(out) == 0 && !diags.HasErrors() {
		name := strings.Join(paths, ", ")
		diags = append(diags, fileError(name, "No policy files", "No policy file was given or found; give files or directories holding *.hcl files."))
	}
	return out, diags
}

// dirPolicyFiles lists the policy files of a directory: its *.hcl files in
// name order, leaving out hidden files (editor locks and backups such as
// ".#10-ports.hcl") and subdirectories.
func dirPolicyFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir) // sorted by name
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".hcl") {
			continue
		}
		out = append(out, filepath.Join(dir, name))
	}
	return out, nil
}

func fileError(name, summary, detail string) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: &hcl.Range{Filename: name}}
}

// loader holds the state of one load: a fresh parser (it caches files by
// name, so a reload must not reuse one) and what the files declared so far.
type loader struct {
	parser  *hclparse.Parser
	set     *Set
	diags   hcl.Diagnostics
	agentAt *hcl.Range
	ruleAt  map[string]hcl.Range
	// literals are the set values known without an observation, checked
	// against the guardrails once every file is in.
	literals []literal
}

type literal struct {
	key, value string
	rng        hcl.Range
}

func load(srcs []source) (*Set, hcl.Diagnostics) {
	l := &loader{
		parser: hclparse.NewParser(),
		set:    &Set{Settings: DefaultSettings(), Guardrails: map[string]Guardrail{}},
		ruleAt: map[string]hcl.Range{},
	}
	var contents []*hcl.BodyContent
	for _, s := range srcs {
		f, diags := l.parser.ParseHCL(s.src, s.name)
		l.diags = append(l.diags, diags...)
		if f == nil || diags.HasErrors() {
			continue
		}
		c, diags := f.Body.Content(fileSchema)
		l.diags = append(l.diags, diags...)
		l.set.Files = append(l.set.Files, s.name)
		contents = append(contents, c)
	}
	// Agent settings and guardrails first, from every file: rules are
	// checked against the merged guardrails.
	for _, c := range contents {
		for _, b := range c.Blocks {
			switch b.Type {
			case "agent":
				l.agent(b)
			case "guardrail":
				l.guardrail(b)
			}
		}
	}
	for _, c := range contents {
		for _, b := range c.Blocks {
			if b.Type == "rule" {
				l.rule(b)
			}
		}
	}
	l.checkLiterals()
	if l.diags.HasErrors() {
		return nil, l.diags
	}
	l.set.checksum = checksum(srcs)
	return l.set, l.diags
}

func (l *loader) errorf(subject hcl.Range, summary, format string, args ...any) {
	l.diags = append(l.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   fmt.Sprintf(format, args...),
		Subject:  subject.Ptr(),
	})
}

// constant evaluates an attribute that may not read the observation.
func (l *loader) constant(a *hcl.Attribute, want cty.Type) (cty.Value, bool) {
	v, diags := a.Expr.Value(nil)
	l.diags = append(l.diags, diags...)
	if diags.HasErrors() {
		return cty.NilVal, false
	}
	if v.IsNull() {
		l.errorf(a.Expr.Range(), "Invalid value", "%s must not be null.", a.Name)
		return cty.NilVal, false
	}
	if want == cty.DynamicPseudoType {
		return v, true
	}
	cv, err := convert.Convert(v, want)
	if err != nil {
		l.errorf(a.Expr.Range(), "Wrong type", "%s must be a %s: %s.", a.Name, want.FriendlyName(), err)
		return cty.NilVal, false
	}
	return cv, true
}

// constantInt evaluates an attribute holding a whole number.
func (l *loader) constantInt(a *hcl.Attribute) (int64, bool) {
	v, ok := l.constant(a, cty.Number)
	if !ok {
		return 0, false
	}
	n, err := intArg(v)
	if err != nil {
		l.errorf(a.Expr.Range(), "Wrong type", "%s must be a whole number: %s.", a.Name, err)
		return 0, false
	}
	return n, true
}

// constantDuration evaluates an attribute holding a duration: a string
// such as "90s" or "5m", or a number of seconds.
func (l *loader) constantDuration(a *hcl.Attribute) (cty.Value, bool) {
	v, ok := l.constant(a, cty.DynamicPseudoType)
	if !ok {
		return cty.NilVal, false
	}
	if v.Type() != cty.String && v.Type() != cty.Number {
		l.errorf(a.Expr.Range(), "Wrong type", `%s must be a duration such as "30s" or "5m".`, a.Name)
		return cty.NilVal, false
	}
	return v, true
}

func (l *loader) rule(b *hcl.Block) {
	name, nameRange := b.Labels[0], b.LabelRanges[0]
	if !ruleName.MatchString(name) {
		l.errorf(nameRange, "Invalid rule name",
			"Rule name %q must start with a letter or digit and hold only letters, digits, '-', '_' and '.'.", name)
		return
	}
	if prev, dup := l.ruleAt[name]; dup {
		l.errorf(nameRange, "Duplicate rule", "Rule %q is already declared at %s; rule names must be unique across all policy files.", name, rangeString(prev))
		return
	}
	l.ruleAt[name] = b.DefRange

	c, diags := b.Body.Content(ruleSchema)
	l.diags = append(l.diags, diags...)
	if diags.HasErrors() {
		return
	}
	r := &Rule{Name: name, Range: b.DefRange}
	if a, ok := c.Attributes["when"]; ok {
		r.when = a.Expr
		if v, ok := l.check(a.Expr); ok {
			l.checkType(a, v, cty.Bool)
		}
	}
	if a, ok := c.Attributes["severity"]; ok {
		r.severity = a.Expr
		if v, ok := l.check(a.Expr); ok && l.checkType(a, v, cty.String) {
			if v, _ := convert.Convert(v, cty.String); v.IsKnown() {
				if err := checkSeverity(v.AsString()); err != nil {
					l.errorf(a.Expr.Range(), "Invalid severity", "%s.", err)
				}
			}
		}
	}
	for _, n := range []string{"message", "advice"} {
		a, ok := c.Attributes[n]
		if !ok {
			continue
		}
		if v, ok := l.check(a.Expr); ok {
			l.checkType(a, v, cty.String)
		}
		if n == "message" {
			r.message = a.Expr
		} else {
			r.advice = a.Expr
		}
	}
	if r.message == nil && r.advice == nil {
		l.errorf(b.DefRange, "Missing message", "Rule %q needs a message, an advice, or both.", name)
	}

	keyAt := map[string]hcl.Range{}
	for _, sb := range c.Blocks {
		key, keyRange := sb.Labels[0], sb.LabelRanges[0]
		if err := checkKey(key); err != nil {
			l.errorf(keyRange, "Key not allowed", "%s.", err)
			continue
		}
		if prev, dup := keyAt[key]; dup {
			l.errorf(keyRange, "Duplicate set", "Rule %q already sets %s at %s.", name, key, rangeString(prev))
			continue
		}
		keyAt[key] = keyRange
		sc, diags := sb.Body.Content(setSchema)
		l.diags = append(l.diags, diags...)
		a, ok := sc.Attributes["value"]
		if !ok {
			continue
		}
		r.sets = append(r.sets, setAction{key: key, value: a.Expr, rng: keyRange})
		r.Keys = append(r.Keys, key)
		v, ok := l.check(a.Expr)
		if !ok || !v.IsWhollyKnown() {
			continue
		}
		s, err := valueString(v)
		if err != nil {
			l.errorf(a.Expr.Range(), "Wrong type", "The value of %s %s.", key, err)
			continue
		}
		l.literals = append(l.literals, literal{key: key, value: s, rng: a.Expr.Range()})
	}
	l.set.Rules = append(l.set.Rules, r)
}

// check verifies every observation an expression names and evaluates it
// against unknown observations, which type-checks it: the result is
// known only when the expression does not depend on the observation.
func (l *loader) check(expr hcl.Expression) (cty.Value, bool) {
	ok := true
	for _, tr := range expr.Variables() {
		if d := checkTraversal(tr); d != nil {
			l.diags = append(l.diags, d)
			ok = false
		}
	}
	if !ok {
		return cty.NilVal, false
	}
	ctx := &hcl.EvalContext{Variables: unknownVariables, Functions: l.set.staticFunctions()}
	v, diags := expr.Value(ctx)
	l.diags = append(l.diags, diags...)
	if diags.HasErrors() {
		return cty.NilVal, false
	}
	return v, true
}

// checkType reports whether v, the static value of attribute a, can be a
// want; it reports an error when it cannot.
func (l *loader) checkType(a *hcl.Attribute, v cty.Value, want cty.Type) bool {
	if v.IsKnown() && v.IsNull() {
		l.errorf(a.Expr.Range(), "Invalid value", "%s must not be null.", a.Name)
		return false
	}
	if _, err := convert.Convert(v, want); err != nil {
		l.errorf(a.Expr.Range(), "Wrong type", "%s must be a %s, but this expression is a %s.",
			a.Name, want.FriendlyName(), v.Type().FriendlyName())
		return false
	}
	return true
}

// checkLiterals checks the set values known without an observation
// against the built-in guardrails and the policy's own.
func (l *loader) checkLiterals() {
	for _, lit := range l.literals {
		if err := l.set.CheckValue(lit.key, lit.value); err != nil {
			l.errorf(lit.rng, "Value breaks a guardrail", "%s.", err)
		}
	}
}

// checkSeverity reports whether s is a severity.
func checkSeverity(s string) error {
	switch s {
	case SeverityInfo, SeverityWarning, SeverityCritical:
		return nil
	}
	return fmt.Errorf("severity %q: want %q, %q or %q", s, SeverityInfo, SeverityWarning, SeverityCritical)
}

// checkTraversal checks a variable reference against the observation
// schema and returns a diagnostic for a name that does not exist.
func checkTraversal(tr hcl.Traversal) *hcl.Diagnostic {
	root := tr.RootName()
	t, ok := variableTypes[root]
	if !ok {
		names := make([]string, 0, len(variableTypes))
		for n := range variableTypes {
			names = append(names, n)
		}
		sort.Strings(names)
		return &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Unknown variable",
			Detail:   fmt.Sprintf("There is no observation named %q%s. The observations are: %s.", root, suggest(root, names), strings.Join(names, ", ")),
			Subject:  tr[0].SourceRange().Ptr(),
		}
	}
	path := root
	for _, step := range tr[1:] {
		var name string
		switch s := step.(type) {
		case hcl.TraverseAttr:
			if !t.IsObjectType() {
				return nil // HCL's own evaluation reports it
			}
			name = s.Name
		case hcl.TraverseIndex:
			switch {
			case t.IsListType():
				t = t.ElementType()
				path += "[…]"
				continue
			case t.IsObjectType() && s.Key.Type() == cty.String && s.Key.IsKnown() && !s.Key.IsNull():
				name = s.Key.AsString()
			default:
				return nil
			}
		default:
			return nil
		}
		if !t.HasAttribute(name) {
			attrs := make([]string, 0, len(t.AttributeTypes()))
			for n := range t.AttributeTypes() {
				attrs = append(attrs, n)
			}
			sort.Strings(attrs)
			return &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Unknown variable",
				Detail:   fmt.Sprintf("%s has no attribute %q%s. Its attributes are: %s.", path, name, suggest(name, attrs), strings.Join(attrs, ", ")),
				Subject:  step.SourceRange().Ptr(),
			}
		}
		t = t.AttributeType(name)
		path += "." + name
	}
	return nil
}

// suggest returns ` (did you mean "x"?)` for the closest of names, if close.
func suggest(given string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		if d := editDistance(strings.ToLower(given), strings.ToLower(n)); d < bestD {
			best, bestD = n, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// rangeString formats a range's start as file:line:column.
func rangeString(r hcl.Range) string {
	return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
}

// staticFunctions is the function library for load-time checks: the
// helpers that read live state return unknown values there.
func (s *Set) staticFunctions() map[string]function.Function {
	fs := s.functions(advisor.Sysctls{})
	for _, name := range []string{"widen_port_range", "bounded"} {
		fs[name] = unknownResult(fs[name])
	}
	return fs
}
