package policies

import (
	"embed"
	"io/fs"
	"strings"
)

// defaultFiles are the default policies, used when no policy path is given.
//
//go:embed *.hcl
var defaultFiles embed.FS

// DefaultPrefix names the embedded default files in diagnostics and in
// Set.Files: "default/10-port-exhaustion.hcl".
const DefaultPrefix = "default/"

// Default returns the embedded default policies alone. It panics only if
// the embedded files are broken, which a test guards against.
func Default() *Set {
	set, diags := load(defaultSources(), nil)
	if diags.HasErrors() {
		var b strings.Builder
		FormatDiagnostics(&b, diags)
		panic("policies: embedded default policies are broken:\n" + b.String())
	}
	return set
}

// DefaultFiles returns the embedded default policy files by name, for
// operators who want to start from a copy.
func DefaultFiles() map[string][]byte {
	out := map[string][]byte{}
	for _, s := range defaultSources() {
		out[strings.TrimPrefix(s.name, DefaultPrefix)] = s.src
	}
	return out
}

func defaultSources() []source {
	names, err := fs.Glob(defaultFiles, "*.hcl") // sorted by name
	if err != nil {
		panic(err)
	}
	out := make([]source, 0, len(names))
	for _, n := range names {
		src, err := defaultFiles.ReadFile(n)
		if err != nil {
			panic(err)
		}
		out = append(out, source{name: DefaultPrefix + n, src: src, embedded: true})
	}
	return out
}
