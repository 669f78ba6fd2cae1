package systemd

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/tcp-advisor/tcp-advisor/internal/testbin"
)

const catalogFile = "tcp-advisor.catalog"

// catalogEntry is one "-- <id>" section of a journal catalog.
type catalogEntry struct {
	headers map[string]string
	body    string
}

// parseCatalog reads the catalog format of journalctl --update-catalog:
// "-- ID" starts an entry, header lines follow until a blank line, then the
// body up to the next entry; '#' lines outside entries are comments.
func parseCatalog(t *testing.T, path string) map[string]catalogEntry {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	entries := map[string]catalogEntry{}
	var id string
	var cur catalogEntry
	inHeaders := false
	flush := func() {
		if id != "" {
			cur.body = strings.TrimSpace(cur.body)
			entries[id] = cur
		}
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "-- "):
			flush()
			id = strings.TrimSpace(strings.TrimPrefix(line, "-- "))
			if _, dup := entries[id]; dup {
				t.Errorf("catalog: entry %s twice", id)
			}
			cur = catalogEntry{headers: map[string]string{}}
			inHeaders = true
		case id == "":
			if line != "" && !strings.HasPrefix(line, "#") {
				t.Errorf("catalog: text before the first entry: %q", line)
			}
		case inHeaders && line == "":
			inHeaders = false
		case inHeaders:
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				t.Errorf("catalog %s: bad header line %q", id, line)
			}
			cur.headers[k] = strings.TrimSpace(v)
		default:
			cur.body += line + "\n"
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	flush()
	return entries
}

var fieldRefRE = regexp.MustCompile(`@([A-Za-z0-9_]+)@`)

func TestCatalogMatchesEventKinds(t *testing.T) {
	entries := parseCatalog(t, catalogFile)
	ids := map[string]bool{}
	for _, k := range EventKinds() {
		ids[k.MessageID()] = true
		if _, ok := entries[k.MessageID()]; !ok {
			t.Errorf("%v: MESSAGE_ID %s has no catalog entry", k, k.MessageID())
		}
	}
	known := []string{FieldRule, FieldKey, FieldOldValue, FieldNewValue, FieldDestination, FieldUtilization,
		FieldPID, FieldUnit, FieldCommand, FieldPolicyFile, FieldPolicyLine, FieldMode, FieldVersion, FieldGuardrail, FieldReason, FieldPolicyChecksum,
		FieldStateFile, FieldErrno}
	for id, e := range entries {
		t.Run(id, func(t *testing.T) {
			if !ids[id] {
				t.Errorf("catalog entry %s is no EventKind's MESSAGE_ID", id)
			}
			for _, h := range []string{"Subject", "Defined-By", "Support"} {
				if e.headers[h] == "" {
					t.Errorf("missing %s:", h)
				}
			}
			if got := e.headers["Defined-By"]; got != "tcp-advisor" {
				t.Errorf("Defined-By: %q, want tcp-advisor", got)
			}
			if len(e.body) < 80 {
				t.Errorf("body too short to explain anything: %q", e.body)
			}
			// @FIELD@ is substituted from the entry; a name the agent never
			// sets would show up verbatim.
			for _, m := range fieldRefRE.FindAllStringSubmatch(e.headers["Subject"]+"\n"+e.body, -1) {
				if !slices.Contains(known, m[1]) {
					t.Errorf("@%s@ is not one of the agent's fields", m[1])
				}
			}
		})
	}
}

// TestCatalogJournalctl has journalctl itself compile the catalog into a
// scratch root, as the packages' postinstall does for the real one, and list
// every ID back.
func TestCatalogJournalctl(t *testing.T) {
	journalctl := testbin.Tool(t, "journalctl", "systemd")
	root := t.TempDir()
	dir := filepath.Join(root, "usr/lib/systemd/catalog")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(catalogFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, catalogFile), src, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(journalctl, "--root="+root, "--update-catalog").CombinedOutput(); err != nil || len(out) > 0 {
		t.Fatalf("journalctl --update-catalog: %v\n%s", err, out)
	}
	out, err := exec.Command(journalctl, "--root="+root, "--list-catalog", "--no-pager").CombinedOutput()
	if err != nil {
		t.Fatalf("journalctl --list-catalog: %v\n%s", err, out)
	}
	for _, k := range EventKinds() {
		if !strings.Contains(string(out), k.MessageID()+" tcp-advisor: ") {
			t.Errorf("%v (%s) not in journalctl --list-catalog:\n%s", k, k.MessageID(), out)
		}
	}
}
