package report

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// JSONMarkdown is README.md's table of `diagnose --format json`: a row per
// top-level key of Diagnosis, with its jsondoc tag and the keys inside it
// ({} an object's, [] an array's objects'), each followed by its own
// jsondoc tag, if any, in parentheses. A key that is also a rule variable's
// attribute needs none: it is that figure, documented once in advisor.View
// (policies/README.md). A type met again is not spelled out twice.
func JSONMarkdown() string {
	var b strings.Builder
	b.WriteString("| key | meaning |\n| --- | --- |\n")
	seen := map[reflect.Type]string{}
	for _, f := range jsonFields(reflect.TypeFor[Diagnosis]()) {
		name := jsonKey(f)
		doc := f.Tag.Get("jsondoc")
		if keys := jsonKeys(f.Type, name, seen); keys != "" {
			doc = strings.TrimPrefix(doc+"; "+keys, "; ")
		}
		fmt.Fprintf(&b, "| `%s` | %s |\n", name, strings.ReplaceAll(doc, "|", `\|`))
	}
	return b.String()
}

// jsonKeys lists the keys of an object or of an array's objects, with
// their docs and their own keys.
func jsonKeys(t reflect.Type, path string, seen map[reflect.Type]string) string {
	t = deref(t)
	array := t.Kind() == reflect.Slice
	if array {
		t = deref(t.Elem())
	}
	if t.Kind() != reflect.Struct || isLeaf(t) {
		return ""
	}
	open, close := "{", "}"
	if array {
		open, close = "[", "]"
	}
	if first, ok := seen[t]; ok {
		return fmt.Sprintf("%sas `%s`%s", open, first, close)
	}
	seen[t] = path
	var keys []string
	for _, f := range jsonFields(t) {
		k := "`" + jsonKey(f) + "`"
		if sub := jsonKeys(f.Type, path+"."+jsonKey(f), seen); sub != "" {
			k += " " + sub
		}
		if doc := f.Tag.Get("jsondoc"); doc != "" {
			k += " (" + doc + ")"
		}
		keys = append(keys, k)
	}
	return open + strings.Join(keys, ", ") + close
}

// jsonFields are a struct's fields as encoding/json writes them: untagged
// embedded structs' fields in their place, "-" left out.
func jsonFields(t reflect.Type) []reflect.StructField {
	var out []reflect.StructField
	for i := range t.NumField() {
		f := t.Field(i)
		tag, tagged := f.Tag.Lookup("json")
		switch {
		case !f.IsExported() || tag == "-":
		case f.Anonymous && !tagged && deref(f.Type).Kind() == reflect.Struct:
			out = append(out, jsonFields(deref(f.Type))...)
		default:
			out = append(out, f)
		}
	}
	return out
}

func jsonKey(f reflect.StructField) string {
	if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); name != "" {
		return name
	}
	return f.Name
}

func deref(t reflect.Type) reflect.Type {
	if t.Kind() == reflect.Pointer {
		return t.Elem()
	}
	return t
}

// isLeaf is true for a type that marshals itself, such as time.Time.
func isLeaf(t reflect.Type) bool {
	p := reflect.PointerTo(t)
	return p.Implements(reflect.TypeFor[json.Marshaler]()) || p.Implements(reflect.TypeFor[encoding.TextMarshaler]())
}
