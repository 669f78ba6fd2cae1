package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tcp-advisor/tcp-advisor/internal/netnstest"
	"github.com/tcp-advisor/tcp-advisor/internal/testbin"
)

// generated runs a documentation command in-process.
func generated(t *testing.T, args ...string) string {
	t.Helper()
	stdout, stderr, code := run(args...)
	if code != 0 || stderr != "" {
		t.Fatalf("%v: exit %d\n%s", args, code, stderr)
	}
	return stdout
}

// visible returns every command help lists, with the flags it parses.
func visible(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, c := range commandTable() {
		if c.hidden {
			continue
		}
		var names []string
		flagsOf(t, c).VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
		out[c.name] = names
	}
	return out
}

// sections splits text at the lines sep matches, keyed by the first group.
func sections(text string, sep *regexp.Regexp) map[string]string {
	out := map[string]string{}
	locs := sep.FindAllStringSubmatchIndex(text, -1)
	for i, l := range locs {
		end := len(text)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		out[text[l[2]:l[3]]] = text[l[1]:end]
	}
	return out
}

// TestDocsNameEveryCommandAndFlag: the man page and both completions name
// every command help lists and, in that command's part, every flag it
// parses; the hidden commands stay out of all three.
func TestDocsNameEveryCommandAndFlag(t *testing.T) {
	cmds := visible(t)
	if len(cmds) < 8 {
		t.Fatalf("only %d visible commands", len(cmds))
	}
	man := generated(t, "gen-man")
	bash := generated(t, "gen-completion", "bash")
	zsh := generated(t, "gen-completion", "zsh")
	docs := []struct {
		name  string
		parts map[string]string
		flag  func(string) string
	}{
		{"man page", sections(man, regexp.MustCompile(`(?m)^\.SS "([a-z-]+)"$`)), func(f string) string { return `\fB\-\-` + f + `\fR` }},
		{"bash completion", sections(bash, regexp.MustCompile(`(?m)^    ([a-z-]+)\)$`)), func(f string) string { return "--" + f }},
		{"zsh completion", sections(zsh, regexp.MustCompile(`(?m)^        ([a-z-]+)\)$`)), func(f string) string { return "--" + f }},
	}
	for _, d := range docs {
		for name, flags := range cmds {
			part, ok := d.parts[name]
			if !ok {
				t.Errorf("%s has no part for %s", d.name, name)
				continue
			}
			for _, f := range flags {
				if !strings.Contains(part, d.flag(f)) {
					t.Errorf("%s: %s lacks %s", d.name, name, d.flag(f))
				}
			}
		}
		for _, hidden := range []string{"gen-man", "gen-completion"} {
			if _, ok := d.parts[hidden]; ok {
				t.Errorf("%s documents the hidden %s", d.name, hidden)
			}
		}
	}
	for name := range cmds {
		if !strings.Contains(zsh, "'"+name+":") || !regexp.MustCompile(`compgen -W '[^']*\b`+name+`\b`).MatchString(bash) {
			t.Errorf("a completion does not offer the command %s", name)
		}
	}
	if !strings.Contains(man, `\fBtcp-advisor\fR \fB\-\-version\fR`) {
		t.Errorf("man page synopsis lacks --version")
	}
}

// TestManPageRenders: groff, every warning on, renders the page without a
// warning, and the text a reader sees names every command and flag.
func TestManPageRenders(t *testing.T) {
	groff := testbin.Tool(t, "groff", "groff-base")
	page := generated(t, "gen-man")
	cmd := exec.Command(groff, "-man", "-Tascii", "-ww", "-P-c", "-P-b", "-P-u")
	cmd.Stdin = strings.NewReader(page)
	var out, warn bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &warn
	if err := cmd.Run(); err != nil || warn.Len() > 0 {
		t.Fatalf("groff -ww: %v\n%s", err, warn.String())
	}
	text := out.String()
	for name, flags := range visible(t) {
		if !strings.Contains(text, "tcp-advisor "+name) {
			t.Errorf("rendered page lacks tcp-advisor %s", name)
		}
		for _, f := range flags {
			if !strings.Contains(text, "--"+f) {
				t.Errorf("rendered page lacks --%s (%s)", f, name)
			}
		}
	}
	for _, want := range []string{"TCP-ADVISOR(8)", "EXIT STATUS", "FILES", "/var/lib/tcp-advisor/state.json"} {
		if !strings.Contains(text, want) {
			t.Errorf("rendered page lacks %q", want)
		}
	}
}

// TestBashCompletion sources the generated script in bash and completes
// command lines as a user's Tab would.
func TestBashCompletion(t *testing.T) {
	bash := testbin.Tool(t, "bash", "bash")
	script := generated(t, "gen-completion", "bash")
	dir := t.TempDir()
	for _, f := range []string{"a.hcl", "b.hcl"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "policies.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		words []string
		want  string
	}{
		{[]string{""}, "diagnose plan record test validate run apply rollback status version --help --version"},
		{[]string{"ro"}, "rollback"},
		{[]string{"--v"}, "--version"},
		{[]string{"run", "--"}, "--" + strings.Join(visible(t)["run"], " --")},
		{[]string{"run", "--mode", ""}, "dry-run enforce"},
		{[]string{"plan", "--format", "j"}, "json"},
		{[]string{"status", "--f"}, "--format"},
		{[]string{"rollback", "--key", "net.ipv4.ip_local_p"}, "net.ipv4.ip_local_port_range"},
		{[]string{"rollback", "--y"}, "--yes"},
		{[]string{"plan", "--policy", dir + "/a"}, dir + "/a.hcl"},
		{[]string{"plan", "--state-dir", dir + "/"}, dir + "/policies.d"},
		{[]string{"validate", dir + "/b"}, dir + "/b.hcl"},
		{[]string{"run", "--interval", ""}, ""},
		{[]string{"version", ""}, ""},
	} {
		words := append([]string{"tcp-advisor"}, tt.words...)
		var quoted []string
		for _, w := range words {
			quoted = append(quoted, "'"+w+"'")
		}
		prog := script + "\nCOMP_WORDS=(" + strings.Join(quoted, " ") + "); COMP_CWORD=" + itoa(len(words)-1) + "; _tcp_advisor; echo \"${COMPREPLY[*]}\"\n"
		out, err := exec.Command(bash, "--norc", "--noprofile", "-c", prog).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", tt.words, err, out)
		}
		if got := strings.TrimSpace(string(out)); got != tt.want {
			t.Errorf("tcp-advisor %s<Tab> = %q, want %q", strings.Join(tt.words, " "), got, tt.want)
		}
	}
}

// TestNetnsCompletion: bash completes --netns with the names the installed
// tcp-advisor lists (a stand-in on PATH here), and netns-names lists the
// host's namespace and a named one by their names.
func TestNetnsCompletion(t *testing.T) {
	bash := testbin.Tool(t, "bash", "bash")
	script := generated(t, "gen-completion", "bash")
	bin := t.TempDir()
	stub := "#!/bin/sh\n[ \"$1\" = netns-names ] && printf '%s\\n' host lb-blue payments/envoy-7f9c lb-green\n"
	if err := os.WriteFile(filepath.Join(bin, "tcp-advisor"), []byte(stub), 0o755); err != nil {
		t.Fatal(err)
	}
	prog := script + "\nCOMP_WORDS=(tcp-advisor diagnose --netns lb-); COMP_CWORD=3; _tcp_advisor; echo \"${COMPREPLY[*]}\"\n"
	cmd := exec.Command(bash, "--norc", "--noprofile", "-c", prog)
	cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if got := strings.TrimSpace(string(out)); err != nil || got != "lb-blue lb-green" {
		t.Errorf("tcp-advisor diagnose --netns lb-<Tab> = %q (%v), want \"lb-blue lb-green\"", got, err)
	}

	netnstest.Require(t)
	ns := netnstest.New(t)
	stdout, stderr, code := run("netns-names")
	names := strings.Split(strings.TrimSpace(stdout), "\n")
	if code != 0 || !slices.Contains(names, "host") || !slices.Contains(names, ns.Name) {
		t.Errorf("netns-names: exit %d, want host and %s among:\n%s%s", code, ns.Name, stdout, stderr)
	}
}

// zshComplete types line and Tab into an interactive zsh (through zpty)
// with the completion in $1 put in $fpath ($3 is the line without trailing
// blanks, which zle need not print when it draws the line again). Each step waits for what it expects: the
// prompt (keys typed ahead of zle suppress the listing), then the line
// drawn again below the listing; then it kills the line and prints a
// marker to end the output.
const zshComplete = `zmodload zsh/zpty
zpty z 'zsh -f -i'
zpty -w z "PS1='zz%#-prompt> '; COLUMNS=250; fpath=(${(q)1} \$fpath); autoload -U compinit; compinit -u -D; setopt nobeep; print READY''MARK"
zpty -r z out '*READYMARK*zz[#%]-prompt> *'
zpty -w -n z "$2"$'\t'
zpty -r z out "*${(b)3}*${(b)3}*"
local all=$out
zpty -w -n z $'\x15'"print DONE''MARK"$'\n'
zpty -r z out '*DONEMARK*'
print -r -- "$all$out"
zpty -d z
`

// TestZshCompletion completes command lines in a real interactive zsh.
func TestZshCompletion(t *testing.T) {
	zsh := testbin.Tool(t, "zsh", "zsh")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "_tcp-advisor"), []byte(generated(t, "gen-completion", "zsh")), 0o644); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "complete.zsh")
	if err := os.WriteFile(script, []byte(zshComplete), 0o644); err != nil {
		t.Fatal(err)
	}
	// --netns completes with what the installed tcp-advisor lists: a
	// stand-in on PATH.
	stub := "#!/bin/sh\n[ \"$1\" = netns-names ] && printf '%s\\n' host lb-blue lb-green\n"
	if err := os.WriteFile(filepath.Join(dir, "tcp-advisor"), []byte(stub), 0o755); err != nil {
		t.Fatal(err)
	}
	ansi := regexp.MustCompile(`\x1b\[[0-9;?]*[a-zA-Z]`)
	cmds := visible(t)
	for _, tt := range []struct {
		line string
		want []string
	}{
		{"tcp-advisor ", slices.Sorted(func(yield func(string) bool) {
			for name := range cmds {
				if !yield(name) {
					return
				}
			}
		})},
		{"tcp-advisor run --", []string{"--detail-interval", "--interval", "--mode", "--policy", "--state-dir"}},
		{"tcp-advisor run --mode ", []string{"dry-run", "enforce"}},
		{"tcp-advisor rollback --", []string{"--key", "--persist-path", "--state-dir", "--yes"}},
		{"tcp-advisor status --format ", []string{"text", "json"}},
		{"tcp-advisor diagnose --netns lb-", []string{"lb-blue", "lb-green"}},
	} {
		// Each case mostly waits for zsh: run them side by side.
		t.Run(tt.line, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, zsh, "-f", script, dir, tt.line, strings.TrimSpace(tt.line))
			cmd.WaitDelay = time.Second
			cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"))
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%q: %v\n%s", tt.line, err, out)
			}
			text := ansi.ReplaceAllString(string(out), "")
			for _, w := range tt.want {
				if !regexp.MustCompile(`(^|[\s=])` + regexp.QuoteMeta(w) + `(\s|$)`).MatchString(text) {
					t.Errorf("%q<Tab> does not offer %s:\n%s", tt.line, w, text)
				}
			}
		})
	}
}

// TestReadmeNamesEveryCommand: README.md's Commands table has a row for
// every command help lists.
func TestReadmeNamesEveryCommand(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testbin.RepoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for name := range visible(t) {
		if !regexp.MustCompile("(?m)^\\| `tcp-advisor " + regexp.QuoteMeta(name) + "[ `]").Match(b) {
			t.Errorf("README.md's Commands table has no row for %s", name)
		}
	}
}
