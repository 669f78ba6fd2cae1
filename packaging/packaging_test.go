package packaging

import (
	"bytes"
	"crypto/sha256"
	"debug/buildinfo"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	"github.com/goreleaser/nfpm/v2/files"
	_ "github.com/goreleaser/nfpm/v2/rpm" // registers the rpm packager

	"github.com/tcp-advisor/tcp-advisor/internal/testbin"
	"github.com/tcp-advisor/tcp-advisor/policies"
)

// binDir is where `make build` writes the binary and the documentation it
// generates; the sources below it are the build's, not the repository's.
const binDir = "bin/"

// config parses nfpm.yaml as `make package` runs it, for one format, with
// every source path made absolute (sources are relative to the repository
// root) and the build's files (bin/...) taken from built instead.
func config(t *testing.T, format, built string) *nfpm.Info {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"TCP_ADVISOR_VERSION": "0.1.0", "TCP_ADVISOR_ARCH": "amd64"}
	cfg, err := nfpm.ParseFileWithEnvMapping("nfpm.yaml", func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("nfpm.yaml: %v", err)
	}
	info, err := cfg.Get(format)
	if err != nil {
		t.Fatal(err)
	}
	info = nfpm.WithDefaults(info)
	for _, c := range info.Contents {
		switch {
		case strings.HasPrefix(c.Source, binDir):
			c.Source = filepath.Join(built, strings.TrimPrefix(c.Source, binDir))
		case c.Source != "":
			c.Source = filepath.Join(root, c.Source)
		}
	}
	for _, s := range []*string{&info.Scripts.PostInstall, &info.Scripts.PreRemove, &info.Scripts.PostRemove} {
		if *s != "" {
			*s = filepath.Join(root, *s)
		}
	}
	return info
}

// generated are the files `make build` writes next to the binary.
var generated = []string{"tcp-advisor", "tcp-advisor.8.gz", "tcp-advisor.bash", "_tcp-advisor"}

// stubBuild is a bin/ of stub files, for tests that read the definition.
func stubBuild(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range generated {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// realBuild is a bin/ as `make build` writes it: the binary, and the man
// page and completions gen-docs.sh has it generate.
func realBuild(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "tcp-advisor")
	b, err := os.ReadFile(testbin.Build(t, "cmd/tcp-advisor"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("./gen-docs.sh", bin, dir).CombinedOutput(); err != nil {
		t.Fatalf("gen-docs.sh: %v\n%s", err, out)
	}
	return dir
}

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

func TestContents(t *testing.T) {
	built := stubBuild(t)
	tests := []struct {
		dst, typ, src string
		mode          os.FileMode
	}{
		{"/usr/bin/tcp-advisor", "", "", 0o755},
		{"/usr/share/man/man8/tcp-advisor.8.gz", "", "", 0o644},
		{"/usr/share/bash-completion/completions/tcp-advisor", "", "", 0o644},
		{"/usr/lib/systemd/system/tcp-advisor.service", "", "systemd/tcp-advisor.service", 0o644},
		{"/usr/lib/systemd/catalog/tcp-advisor.catalog", "", "systemd/tcp-advisor.catalog", 0o644},
		{"/etc/tcp-advisor/tcp-advisor.env", files.TypeConfigNoReplace, "packaging/etc/tcp-advisor.env", 0o644},
		{"/etc/tcp-advisor/policies.d", files.TypeDir, "", 0o755},
		{"/etc/tcp-advisor/policies.d/README", files.TypeConfigNoReplace, "packaging/etc/policies.d/README", 0o644},
		{"/usr/share/tcp-advisor/metrics-listen.conf", "", "packaging/systemd/metrics-listen.conf", 0o644},
		{"/usr/share/tcp-advisor/all-namespaces.conf", "", "packaging/systemd/all-namespaces.conf", 0o644},
		{"/usr/share/tcp-advisor/prometheus/tcp-advisor.rules.yml", "", "packaging/prometheus/tcp-advisor.rules.yml", 0o644},
		{"/usr/share/tcp-advisor/grafana/tcp-advisor.json", "", "packaging/grafana/tcp-advisor.json", 0o644},
		{"/usr/share/doc/tcp-advisor/CHANGELOG.md", "", "CHANGELOG.md", 0o644},
	}
	// zsh's completion directory differs between the distributions.
	zsh := map[string]string{"deb": "/usr/share/zsh/vendor-completions/_tcp-advisor", "rpm": "/usr/share/zsh/site-functions/_tcp-advisor"}
	for _, format := range []string{"deb", "rpm"} {
		info := config(t, format, built)
		byDst := map[string]*files.Content{}
		for _, c := range info.Contents {
			if c.Packager == "" || c.Packager == format { // what nfpm packages for format
				byDst[c.Destination] = c
			}
		}
		type row = struct {
			dst, typ, src string
			mode          os.FileMode
		}
		rows := append(tests[:len(tests):len(tests)], row{zsh[format], "", "", 0o644})
		// The licence: Debian's copyright file; the rpm's %license files.
		if format == "deb" {
			rows = append(rows, row{"/usr/share/doc/tcp-advisor/copyright", "", "packaging/deb/copyright", 0o644})
		} else {
			rows = append(rows, row{"/usr/share/licenses/tcp-advisor/LICENSE", files.TypeRPMLicense, "LICENSE", 0o644},
				row{"/usr/share/licenses/tcp-advisor/NOTICE", files.TypeRPMLicense, "NOTICE", 0o644})
		}
		for _, tt := range rows {
			t.Run(format+tt.dst, func(t *testing.T) {
				c, ok := byDst[tt.dst]
				if !ok {
					t.Fatalf("not packaged")
				}
				if c.Type != tt.typ {
					t.Errorf("type %q, want %q", c.Type, tt.typ)
				}
				if tt.src != "" && !strings.HasSuffix(c.Source, "/"+tt.src) {
					t.Errorf("source %q, want %s", c.Source, tt.src)
				}
				if c.FileInfo == nil || c.FileInfo.Mode != tt.mode {
					t.Errorf("file_info %+v, want mode %o", c.FileInfo, tt.mode)
				}
			})
		}
		for other, dst := range zsh {
			if _, ok := byDst[dst]; ok && other != format {
				t.Errorf("%s packages %s's zsh completion %s", format, other, dst)
			}
		}
	}
}

// envAssignments evaluates an EnvironmentFile= as systemd does for the
// simple lines this file has: comments and blank lines skipped, KEY=VALUE
// with one pair of double quotes stripped, the last assignment winning.
func envAssignments(text string) map[string]string {
	env := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		env[strings.TrimSpace(k)] = v
	}
	return env
}

// TestEnvFileInstructions follows the shipped tcp-advisor.env's own
// instructions: as shipped it sets nothing, and uncommenting any one of its
// example lines puts exactly that line's flags in force (nothing later in
// the file overrides it).
func TestEnvFileInstructions(t *testing.T) {
	data, err := os.ReadFile("etc/tcp-advisor.env")
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	if env := envAssignments(text); len(env) != 0 {
		t.Errorf("the shipped tcp-advisor.env sets %v; it should set nothing until a line is uncommented", env)
	}
	lines := strings.Split(text, "\n")
	examples := 0
	for i, line := range lines {
		if !strings.HasPrefix(line, "#TCP_ADVISOR_ARGS=") {
			continue
		}
		examples++
		edited := slices.Clone(lines)
		edited[i] = strings.TrimPrefix(line, "#")
		want := strings.Trim(strings.TrimPrefix(edited[i], "TCP_ADVISOR_ARGS="), `"`)
		if got := envAssignments(strings.Join(edited, "\n"))["TCP_ADVISOR_ARGS"]; got != want {
			t.Errorf("uncommenting line %d (%s) gives TCP_ADVISOR_ARGS=%q, want %q", i+1, line, got, want)
		}
	}
	if !strings.Contains(text, "\n#TCP_ADVISOR_ARGS=\"--mode enforce\"\n") {
		t.Errorf("tcp-advisor.env has no line to uncomment for enforce mode")
	}
	if examples < 3 {
		t.Errorf("tcp-advisor.env has %d example lines, want the enforce, textfile and endpoint ones", examples)
	}
}

// TestScripts checks the maintainer scripts' syntax and their promise:
// reload systemd and the catalog, never enable or start the service.
func TestScripts(t *testing.T) {
	for _, name := range []string{"postinstall.sh", "preremove.sh", "postremove.sh"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("scripts", name)
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm()&0o111 == 0 {
				t.Errorf("%s is not executable", path)
			}
			if out, err := exec.Command("sh", "-n", path).CombinedOutput(); err != nil {
				t.Errorf("sh -n %s: %v\n%s", path, err, out)
			}
			src, _ := os.ReadFile(path)
			for _, line := range strings.Split(string(src), "\n") {
				line = strings.TrimSpace(line)
				if strings.HasPrefix(line, "#") || strings.HasPrefix(line, "echo ") {
					continue // comments and messages may name the commands
				}
				for _, forbidden := range []string{"systemctl enable", "systemctl start", "systemctl restart", "--now"} {
					if strings.Contains(line, forbidden) {
						t.Errorf("%s runs %q: packages must neither enable nor start the service", path, line)
					}
				}
			}
		})
	}
}

// TestBuild builds both packages as `make package` does (with the binary
// and the documentation it generates) and reads the .deb back with
// dpkg-deb where it exists.
func TestBuild(t *testing.T) {
	built := realBuild(t)
	for _, format := range []string{"deb", "rpm"} {
		t.Run(format, func(t *testing.T) {
			info := config(t, format, built)
			pkg, err := nfpm.Get(format)
			if err != nil {
				t.Fatal(err)
			}
			target := filepath.Join(t.TempDir(), pkg.ConventionalFileName(info))
			info.Target = target
			var buf bytes.Buffer
			if err := pkg.Package(info, &buf); err != nil {
				t.Fatalf("nfpm %s: %v", format, err)
			}
			if err := os.WriteFile(target, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			switch format {
			case "rpm":
				if !bytes.HasPrefix(buf.Bytes(), []byte{0xed, 0xab, 0xee, 0xdb}) {
					t.Errorf("%s does not start with the RPM lead", target)
				}
				// The header (uncompressed, unlike the payload) holds the
				// License tag and the file names, base names apart from
				// their directories.
				for _, s := range []string{"Apache-2.0\x00", "/usr/share/licenses/tcp-advisor/\x00", "LICENSE\x00", "NOTICE\x00"} {
					if !bytes.Contains(buf.Bytes(), []byte(s)) {
						t.Errorf("the .rpm's header lacks %q", s)
					}
				}
			case "deb":
				dpkgDeb := testbin.Tool(t, "dpkg-deb", "dpkg")
				out, err := exec.Command(dpkgDeb, "-I", target, "conffiles").CombinedOutput()
				if err != nil {
					t.Fatalf("dpkg-deb -I: %v\n%s", err, out)
				}
				for _, f := range []string{"/etc/tcp-advisor/tcp-advisor.env", "/etc/tcp-advisor/policies.d/README"} {
					if !strings.Contains(string(out), f) {
						t.Errorf("conffiles lacks %s:\n%s", f, out)
					}
				}
				out, err = exec.Command(dpkgDeb, "-f", target, "Package", "Version", "Architecture").CombinedOutput()
				if err != nil {
					t.Fatalf("dpkg-deb -f: %v\n%s", err, out)
				}
				if want := "Package: tcp-advisor\nVersion: 0.1.0-1\nArchitecture: amd64\n"; string(out) != want {
					t.Errorf("control:\n%s\nwant:\n%s", out, want)
				}
				out, err = exec.Command(dpkgDeb, "-c", target).CombinedOutput()
				if err != nil {
					t.Fatalf("dpkg-deb -c: %v\n%s", err, out)
				}
				for _, f := range []string{"./usr/bin/tcp-advisor", "./usr/share/man/man8/tcp-advisor.8.gz", "./usr/share/doc/tcp-advisor/copyright",
					"./usr/share/bash-completion/completions/tcp-advisor", "./usr/share/zsh/vendor-completions/_tcp-advisor"} {
					if !strings.Contains(string(out), " "+f+"\n") {
						t.Errorf("the .deb lacks %s:\n%s", f, out)
					}
				}
				if strings.Contains(string(out), "site-functions") {
					t.Errorf("the .deb has the rpm's zsh path:\n%s", out)
				}
			}
		})
	}
}

// TestPolicyDirREADME follows the README installed in
// /etc/tcp-advisor/policies.d: files there layer on the built-in defaults
// (a file that turns one default off keeps the others), and of two files
// declaring one rule the later in name order wins.
func TestPolicyDirREADME(t *testing.T) {
	data, err := os.ReadFile("etc/policies.d/README")
	if err != nil {
		t.Fatal(err)
	}
	readme := strings.Join(strings.Fields(string(data)), " ")
	for _, claim := range []string{
		"layered on the default policies built into the agent",
		"When two files here declare the same rule, the later file in name order wins",
		"tcp-advisor validate /etc/tcp-advisor/policies.d",
	} {
		if !strings.Contains(readme, claim) {
			t.Errorf("policies.d/README does not say %q", claim)
		}
	}
	defaults := len(policies.Default().Rules)
	dir := t.TempDir()
	write := func(name, src string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("20-off.hcl", "rule \"time-wait-reuse\" {\n  enabled = false\n}\n")
	write("10-base.hcl", "rule \"site\" {\n  when    = true\n  message = \"base\"\n}\n")
	write("50-site.hcl", "# the site's version\nrule \"site\" {\n  when    = true\n  message = \"site\"\n}\n")
	set, diags := policies.Load(dir)
	if diags.HasErrors() {
		t.Fatalf("validate: %v", diags)
	}
	if got := len(set.Rules); got != defaults {
		t.Errorf("%d rules, want the %d defaults, less time-wait-reuse, plus site", got, defaults)
	}
	i := slices.IndexFunc(set.Rules, func(r *policies.Rule) bool { return r.Name == "site" })
	if i < 0 {
		t.Fatalf("rule site missing: %s", set.Describe())
	}
	r := set.Rules[i]
	if filepath.Base(r.Source.Filename) != "50-site.hcl" || r.Source.Start.Line != 2 || r.Replaces == nil || filepath.Base(r.Replaces.Filename) != "10-base.hcl" {
		t.Errorf("rule site comes from %s, replacing %v: want 50-site.hcl:2 replacing 10-base.hcl", policies.RangeString(r.Source), r.Replaces)
	}
}

// apacheLicenseSHA256 is the SHA-256 of the Apache License 2.0 as the
// Apache Software Foundation publishes it (LICENSE-2.0.txt).
const apacheLicenseSHA256 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"

// TestLicence: LICENSE is the Apache License 2.0 word for word, NOTICE
// names the copyright holders, and the Debian copyright file is in the
// machine-readable format with every stanza's licence defined.
func TestLicence(t *testing.T) {
	text, err := os.ReadFile("../LICENSE")
	if err != nil {
		t.Fatal(err)
	}
	if sum := fmt.Sprintf("%x", sha256.Sum256(text)); sum != apacheLicenseSHA256 {
		t.Errorf("LICENSE is not the Apache License 2.0 as published: sha256 %s", sum)
	}
	notice, err := os.ReadFile("../NOTICE")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(notice), "Copyright 2026 The tcp-advisor Authors\n") {
		t.Errorf("NOTICE lacks the copyright line:\n%s", notice)
	}
	cp, err := os.ReadFile("deb/copyright")
	if err != nil {
		t.Fatal(err)
	}
	paragraphs := strings.Split(strings.TrimSpace(string(cp)), "\n\n")
	if !strings.HasPrefix(paragraphs[0], "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n") {
		t.Errorf("copyright does not start with the format's header paragraph:\n%s", paragraphs[0])
	}
	used, defined := map[string]bool{}, map[string]bool{}
	for _, p := range paragraphs[1:] {
		fields := map[string]string{}
		for _, line := range strings.Split(p, "\n") {
			if k, v, ok := strings.Cut(line, ": "); ok && !strings.HasPrefix(line, " ") {
				fields[k] = v
			}
		}
		switch {
		case fields["Files"] != "":
			if fields["Copyright"] == "" || fields["License"] == "" {
				t.Errorf("Files paragraph without Copyright or License:\n%s", p)
			}
			used[fields["License"]] = true
		case fields["License"] != "":
			if !strings.Contains(p, "\n ") {
				t.Errorf("License paragraph %s has no text", fields["License"])
			}
			defined[fields["License"]] = true
		}
	}
	if !used["Apache-2.0"] {
		t.Error("copyright: no Files paragraph under Apache-2.0")
	}
	for l := range used {
		if !defined[l] {
			t.Errorf("copyright: licence %s is used but has no License paragraph", l)
		}
	}
}

// majorSuffix is a module path's major version element, /v2 and up.
var majorSuffix = regexp.MustCompile(`/v[0-9]+$`)

// TestCopyrightNamesLinkedModules: the Debian copyright file names every
// Go module linked into the binary (go version -m), so its list cannot
// fall behind go.mod.
func TestCopyrightNamesLinkedModules(t *testing.T) {
	bi, err := buildinfo.ReadFile(testbin.Build(t, "cmd/tcp-advisor"))
	if err != nil {
		t.Fatal(err)
	}
	cp, err := os.ReadFile("deb/copyright")
	if err != nil {
		t.Fatal(err)
	}
	for _, dep := range bi.Deps {
		name := majorSuffix.ReplaceAllString(dep.Path, "")
		if !strings.Contains(string(cp), " "+name+" (") {
			t.Errorf("deb/copyright does not name %s, linked into /usr/bin/tcp-advisor", name)
		}
	}
}
