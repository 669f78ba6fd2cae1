package advisor

import (
	"fmt"
	"reflect"
	"strings"
)

// VariablesMarkdown is policies/README.md's table of the observation
// variables, from View's cty and doc tags: a section per variable, a row
// per attribute. An object type is spelled out where it first appears;
// later appearances name that place.
func VariablesMarkdown() string {
	var b strings.Builder
	seen := map[reflect.Type]string{}
	vt := reflect.TypeFor[View]()
	for i := range vt.NumField() {
		f := vt.Field(i)
		name := f.Tag.Get("cty")
		fmt.Fprintf(&b, "### `%s`\n\n%s\n\n| variable | type | meaning |\n|---|---|---|\n", name, f.Tag.Get("doc"))
		writeAttr(&b, name, f.Type, f.Tag.Get("doc"), seen)
		b.WriteString("\n")
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// writeAttr writes the row of one attribute and, for an object or a list of
// objects seen for the first time, the rows of its attributes.
func writeAttr(b *strings.Builder, path string, t reflect.Type, doc string, seen map[reflect.Type]string) {
	vdoc := doc
	elem, sub := t, path
	if t.Kind() == reflect.Slice {
		elem, sub = t.Elem(), path+"[*]"
	}
	if elem.Kind() == reflect.Struct {
		if first, ok := seen[elem]; ok {
			doc += fmt.Sprintf(" (attributes as `%s`)", first)
		} else {
			seen[elem] = sub
		}
	}
	// A variable's own row leaves its doc to its section's text.
	top := !strings.Contains(path, ".")
	if top {
		doc = strings.TrimSpace(strings.TrimPrefix(doc, vdoc))
	}
	if !top || t.Kind() != reflect.Struct {
		fmt.Fprintf(b, "| `%s` | %s | %s |\n", path, hclType(t), markdownCode(doc))
	}
	if elem.Kind() != reflect.Struct || seen[elem] != sub {
		return
	}
	for i := range elem.NumField() {
		f := elem.Field(i)
		if name := f.Tag.Get("cty"); name != "" {
			writeAttr(b, sub+"."+name, f.Type, f.Tag.Get("doc"), seen)
		}
	}
}

// hclType names the HCL type gocty gives a Go type.
func hclType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "bool"
	case reflect.String:
		return "string"
	case reflect.Slice:
		return "list(" + hclType(t.Elem()) + ")"
	case reflect.Struct:
		return "object"
	default:
		return "number"
	}
}

// markdownCode returns a doc tag as Markdown: doc tags are plain text, and
// a table cell needs its pipes escaped.
func markdownCode(doc string) string { return strings.ReplaceAll(doc, "|", `\|`) }
