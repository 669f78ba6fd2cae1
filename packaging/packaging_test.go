package packaging

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	"github.com/goreleaser/nfpm/v2/files"
	_ "github.com/goreleaser/nfpm/v2/rpm" // registers the rpm packager
)

const binSource = "bin/tcp-advisor"

// config parses nfpm.yaml as `make package` runs it, for one format, with
// every source path made absolute (sources are relative to the repository
// root) and the binary replaced by stub, so no build is needed.
func config(t *testing.T, format, stub string) *nfpm.Info {
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
		case c.Source == binSource:
			c.Source = stub
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

func stubBinary(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tcp-advisor")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestContents(t *testing.T) {
	info := config(t, "deb", stubBinary(t))
	byDst := map[string]*files.Content{}
	for _, c := range info.Contents {
		byDst[c.Destination] = c
	}
	tests := []struct {
		dst, typ, src string
		mode          os.FileMode
	}{
		{"/usr/bin/tcp-advisor", "", "", 0o755},
		{"/usr/lib/systemd/system/tcp-advisor.service", "", "systemd/tcp-advisor.service", 0o644},
		{"/usr/lib/systemd/catalog/tcp-advisor.catalog", "", "systemd/tcp-advisor.catalog", 0o644},
		{"/etc/tcp-advisor/tcp-advisor.env", files.TypeConfigNoReplace, "packaging/etc/tcp-advisor.env", 0o644},
		{"/etc/tcp-advisor/policies.d", files.TypeDir, "", 0o755},
		{"/etc/tcp-advisor/policies.d/README", files.TypeConfigNoReplace, "packaging/etc/policies.d/README", 0o644},
		{"/usr/share/tcp-advisor/metrics-listen.conf", "", "packaging/systemd/metrics-listen.conf", 0o644},
		{"/usr/share/tcp-advisor/prometheus/tcp-advisor.rules.yml", "", "packaging/prometheus/tcp-advisor.rules.yml", 0o644},
		{"/usr/share/tcp-advisor/grafana/tcp-advisor.json", "", "packaging/grafana/tcp-advisor.json", 0o644},
	}
	for _, tt := range tests {
		t.Run(tt.dst, func(t *testing.T) {
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
}

func TestEnvFileIsAllComments(t *testing.T) {
	data, err := os.ReadFile("etc/tcp-advisor.env")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		// The one assignment the unit expands; empty: no extra flags.
		if line != "TCP_ADVISOR_ARGS=" {
			t.Errorf("default tcp-advisor.env sets more than an empty TCP_ADVISOR_ARGS: %q", line)
		}
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

// TestBuild builds both packages as `make package` does (with a stub
// binary) and reads the .deb back with dpkg-deb where it exists.
func TestBuild(t *testing.T) {
	stub := stubBinary(t)
	for _, format := range []string{"deb", "rpm"} {
		t.Run(format, func(t *testing.T) {
			info := config(t, format, stub)
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
			case "deb":
				dpkgDeb, err := exec.LookPath("dpkg-deb")
				if err != nil {
					if os.Getenv("CI") == "true" {
						t.Fatal("no dpkg-deb under CI=true")
					}
					t.Skip("no dpkg-deb to read the .deb back")
				}
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
			}
		})
	}
}
