// Package archtest keeps ARCHITECTURE.md true: it reads the layer table
// there and checks every package of the module against it.
package archtest

import (
	"bufio"
	"fmt"
	"go/build"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tcp-advisor/tcp-advisor/internal/testbin"
)

const module = "github.com/tcp-advisor/tcp-advisor"

// rule is one row of ARCHITECTURE.md's table.
type rule struct {
	layer int
	kind  string // ships, test or tool
	line  int
}

// readRules parses the table rows "| layer | package | kind | job |".
func readRules(t *testing.T, path string) map[string]rule {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rules := map[string]rule{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		cells := strings.Split(sc.Text(), "|")
		if len(cells) != 6 {
			continue
		}
		layer, err := strconv.Atoi(strings.TrimSpace(cells[1]))
		if err != nil {
			continue // the header and its separator
		}
		pkg, kind := strings.TrimSpace(cells[2]), strings.TrimSpace(cells[3])
		if !slices.Contains([]string{"ships", "test", "tool"}, kind) {
			t.Errorf("%s:%d: kind %q: want ships, test or tool", path, n, kind)
		}
		if _, dup := rules[pkg]; dup {
			t.Errorf("%s:%d: %s listed twice", path, n, pkg)
		}
		rules[pkg] = rule{layer: layer, kind: kind, line: n}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(rules) == 0 {
		t.Fatalf("%s: no layer table found", path)
	}
	return rules
}

// packages returns the repository's packages (directories with Go files
// outside testdata, those of the nested test modules included: the walk
// reads directories, not one module's package list), by path relative to
// the root, with the imports of their non-test files.
func packages(t *testing.T, root string) map[string][]string {
	t.Helper()
	pkgs := map[string][]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		name := d.Name()
		if path != root && (name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
			return filepath.SkipDir
		}
		ctx := build.Default
		ctx.BuildTags = []string{"soak"}
		p, err := ctx.ImportDir(path, 0)
		if _, none := err.(*build.NoGoError); none {
			return nil
		}
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		var local []string
		for _, imp := range p.Imports {
			if imp == module || strings.HasPrefix(imp, module+"/") {
				local = append(local, strings.TrimPrefix(strings.TrimPrefix(imp, module), "/"))
			}
		}
		pkgs[filepath.ToSlash(rel)] = local
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pkgs
}

// violations lists the imports and packages that break the rules: an
// import to the same or a higher layer, a shipped package importing a test
// or tool one, a package without a row and a row without a package.
func violations(rules map[string]rule, pkgs map[string][]string) []string {
	var out []string
	for pkg, imports := range pkgs {
		r, ok := rules[pkg]
		if !ok {
			out = append(out, fmt.Sprintf("%s is not in ARCHITECTURE.md's layer table: add a row", pkg))
			continue
		}
		for _, imp := range imports {
			ir, ok := rules[imp]
			if !ok {
				continue // reported as a package of its own
			}
			if ir.layer >= r.layer {
				out = append(out, fmt.Sprintf("%s (layer %d) imports %s (layer %d): imports go to lower layers only (ARCHITECTURE.md:%d)",
					pkg, r.layer, imp, ir.layer, r.line))
			}
			if r.kind == "ships" && ir.kind != "ships" {
				out = append(out, fmt.Sprintf("%s ships in the binary but imports %s, a %s package (ARCHITECTURE.md:%d)", pkg, imp, ir.kind, ir.line))
			}
		}
	}
	for pkg, r := range rules {
		if _, ok := pkgs[pkg]; !ok {
			out = append(out, fmt.Sprintf("ARCHITECTURE.md:%d: %s is no package of the repository", r.line, pkg))
		}
	}
	slices.Sort(out)
	return out
}

// nestedModule returns the directory (relative to root) of the nested
// module pkg lies in, the nearest go.mod between it and root, or "" when
// it belongs to the root module.
func nestedModule(root, pkg string) string {
	for dir := pkg; dir != "." && dir != "/" && dir != ""; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(root, dir, "go.mod")); err == nil {
			return filepath.ToSlash(dir)
		}
	}
	return ""
}

// TestLayers checks every import of the repository's packages against
// ARCHITECTURE.md's layer table, and that each ships package is the root
// module's: the binary links no nested module.
func TestLayers(t *testing.T) {
	root := testbin.RepoRoot(t)
	pkgs := packages(t, root)
	for _, want := range []string{"cmd/tcp-advisor", "packaging", "systemd/systemtest", "internal/dashboard"} {
		if _, ok := pkgs[want]; !ok {
			t.Fatalf("found no %s under %s: %v", want, root, pkgs)
		}
	}
	rules := readRules(t, filepath.Join(root, "ARCHITECTURE.md"))
	for _, v := range violations(rules, pkgs) {
		t.Error(v)
	}
	for pkg, r := range rules {
		if m := nestedModule(root, pkg); r.kind == "ships" && m != "" {
			t.Errorf("ARCHITECTURE.md:%d: %s ships in the binary but lies in the nested module %s/go.mod", r.line, pkg, m)
		}
	}
}

// TestNestedModule checks the module lookup on the repository's own
// modules.
func TestNestedModule(t *testing.T) {
	root := testbin.RepoRoot(t)
	for pkg, want := range map[string]string{
		"advisor/record":     "",
		"cmd/tcp-advisor":    "",
		"internal/testbin":   "",
		"packaging":          "packaging",
		"systemd":            "",
		"systemd/systemtest": "systemd/systemtest",
		"internal/dashboard": "internal/dashboard",
	} {
		if got := nestedModule(root, pkg); got != want {
			t.Errorf("nestedModule(%s) = %q, want %q", pkg, got, want)
		}
	}
}

// TestViolations checks the checker on a table and a graph that break each
// rule once.
func TestViolations(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "A.md")
	table := "| Layer | Package | Kind | Job |\n|---:|---|---|---|\n" +
		"| 0 | low | ships | x |\n| 1 | high | ships | y |\n| 1 | peer | ships | z |\n| 2 | helper | test | h |\n| 3 | gone | tool | g |\nnot | a | row\n"
	if err := os.WriteFile(path, []byte(table), 0o600); err != nil {
		t.Fatal(err)
	}
	rules := readRules(t, path)
	if got := (rule{layer: 1, kind: "ships", line: 4}); rules["high"] != got {
		t.Errorf("row high = %+v, want %+v", rules["high"], got)
	}
	pkgs := map[string][]string{
		"low":    {"high"},             // upwards
		"high":   {"low", "peer", "x"}, // sideways; x is unlisted
		"peer":   {"low", "helper"},    // upwards, and into a test package
		"helper": {"low"},
		"new":    nil,
	}
	want := []string{
		"ARCHITECTURE.md:7: gone is no package of the repository",
		"high (layer 1) imports peer (layer 1): imports go to lower layers only (ARCHITECTURE.md:4)",
		"low (layer 0) imports high (layer 1): imports go to lower layers only (ARCHITECTURE.md:3)",
		"new is not in ARCHITECTURE.md's layer table: add a row",
		"peer (layer 1) imports helper (layer 2): imports go to lower layers only (ARCHITECTURE.md:5)",
		"peer ships in the binary but imports helper, a test package (ARCHITECTURE.md:6)",
	}
	if got := violations(rules, pkgs); !slices.Equal(got, want) {
		t.Errorf("violations:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
