package archtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tcp-advisor/tcp-advisor/internal/testbin"
)

// home is a concept ARCHITECTURE.md gives one home: the packages whose
// non-test files may use what implements it, an imported package or a
// call.
type home struct {
	what     string
	imports  string // an import path, or
	call     string // a call, as "pkg.Func"
	packages []string
}

var homes = []home{
	{what: "replacing a file whole", call: "os.CreateTemp", packages: []string{"internal/atomicfile"}},
	{what: "entering a network namespace", call: "unix.Setns", packages: []string{"advisor/netns"}},
	{what: "entering a network namespace", imports: "github.com/vishvananda/netns", packages: []string{"advisor/netns"}},
	{what: "reading sysctls", imports: "github.com/lorenzosaino/go-sysctl", packages: []string{"advisor/sysctl"}},
	{what: "writing the journal", imports: "github.com/coreos/go-systemd/v22/journal", packages: []string{"systemd"}},
	// The agent's events reach the journal through the sink the command
	// wires in; nothing else in the binary writes it.
	{what: "the journal's event sink", imports: module + "/systemd", packages: []string{"cmd/tcp-advisor"}},
}

// uses lists, for each package (by path relative to root), the imports
// and the "pkg.Func" selectors of its non-test files.
func uses(t *testing.T, root string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, filepath.Dir(path))
		if err != nil {
			return err
		}
		pkg := filepath.ToSlash(rel)
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			out[pkg] = append(out[pkg], p)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok {
				if id, ok := sel.X.(*ast.Ident); ok {
					out[pkg] = append(out[pkg], id.Name+"."+sel.Sel.Name)
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// strays lists the packages that use what has its home elsewhere.
func strays(homes []home, used map[string][]string) []string {
	var out []string
	for _, h := range homes {
		want := h.imports
		if want == "" {
			want = h.call
		}
		for pkg, us := range used {
			if slices.Contains(us, want) && !slices.Contains(h.packages, pkg) {
				out = append(out, pkg+" uses "+want+": "+h.what+" lives in "+strings.Join(h.packages, ", "))
			}
		}
	}
	slices.Sort(out)
	return out
}

// TestOneHome: what ARCHITECTURE.md gives one home is used nowhere else.
func TestOneHome(t *testing.T) {
	root := testbin.RepoRoot(t)
	used := uses(t, root)
	if len(used["internal/atomicfile"]) == 0 {
		t.Fatalf("found no internal/atomicfile under %s", root)
	}
	for _, s := range strays(homes, used) {
		t.Error(s)
	}
}

// TestStrays checks the checker on uses that break a home once each.
func TestStrays(t *testing.T) {
	used := map[string][]string{
		"internal/atomicfile": {"os.CreateTemp"},
		"advisor/record":      {"os.CreateTemp", "fmt.Sprintf"},
		"remediate/agent":     {module + "/systemd"},
		"cmd/tcp-advisor":     {module + "/systemd"},
	}
	got := strays(homes, used)
	want := []string{
		"advisor/record uses os.CreateTemp: replacing a file whole lives in internal/atomicfile",
		"remediate/agent uses " + module + "/systemd: the journal's event sink lives in cmd/tcp-advisor",
	}
	if !slices.Equal(got, want) {
		t.Errorf("strays\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
