package policies

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"slices"
	"time"

	"github.com/tcp-advisor/tcp-advisor/advisor"
)

// TestValidateInvalid loads each fixture under testdata/invalid and checks
// the exact file:line:column of every diagnostic, and its message.
func TestValidateInvalid(t *testing.T) {
	const dir = "testdata/invalid/"
	tests := []struct {
		path string
		// want holds, per diagnostic line, its position and a substring.
		want [][2]string
	}{
		{"syntax.hcl", [][2]string{{"syntax.hcl:4:3: ", "Unbalanced parentheses"}}},
		{"unknown-block.hcl", [][2]string{{"unknown-block.hcl:6:1: ", `Unsupported block type; Blocks of type "policy" are not expected here`}}},
		{"unknown-attribute.hcl", [][2]string{{"unknown-attribute.hcl:4:3: ", `Unsupported argument; An argument named "priority" is not expected here`}}},
		{"wrong-type.hcl", [][2]string{{"wrong-type.hcl:3:14: ", "Wrong type; when must be a bool, but this expression is a number"}}},
		{"bad-severity.hcl", [][2]string{{"bad-severity.hcl:2:14: ", `Invalid severity; severity "urgent": want "info", "warning" or "critical"`}}},
		{"unknown-variable.hcl", [][2]string{{"unknown-variable.hcl:2:18: ", `Unknown variable; worst has no attribute "utilisation" (did you mean "utilization"?)`}}},
		{"unknown-root.hcl", [][2]string{{"unknown-root.hcl:2:13: ", `Unknown variable; There is no observation named "timewait" (did you mean "time_wait"?)`}}},
		{"disallowed-key.hcl", [][2]string{{"disallowed-key.hcl:5:7: ", "Key not allowed; kernel.panic is not a TCP/port sysctl tcp-advisor may set; settable keys: net.core.somaxconn, "}}},
		{"tw-recycle.hcl", [][2]string{{"tw-recycle.hcl:5:7: ", "Key not allowed; net.ipv4.tcp_tw_recycle was removed in Linux 4.12"}}},
		{"bad-literal.hcl", [][2]string{
			{"bad-literal.hcl:6:13: ", `Invalid value; The value of net.ipv4.tcp_tw_reuse: 3 is outside 0..2; want 0 off, 1 on, 2 loopback only`},
			{"bad-literal.hcl:15:13: ", `Invalid value; The value of net.ipv4.ip_local_port_range: port range "60999 32768": want 0 <= low <= high <= 65535`},
		}},
		{"loosening-guardrail.hcl", [][2]string{
			{"loosening-guardrail.hcl:2:9: ", "Guardrail loosens a built-in; min = 80 is below the built-in bound 1024 of net.ipv4.ip_local_port_range (set allow_privileged_low = true to go below 1024)"},
			{"loosening-guardrail.hcl:3:9: ", "Guardrail loosens a built-in; max = 70000 is above the built-in bound 65535"},
		}},
		{"bad-reserve.hcl", [][2]string{{"bad-reserve.hcl:6:5: ", "Invalid guardrail; reserve: 65536 is not a port number from 1 to 65535."}}},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			set, diags := Load(dir + tc.path)
			if set != nil {
				t.Error("Load returned a set despite errors")
			}
			if !diags.HasErrors() {
				t.Fatal("no error")
			}
			lines := strings.Split(strings.TrimSuffix(diagString(diags), "\n"), "\n")
			if len(lines) != len(tc.want) {
				t.Fatalf("%d diagnostics, want %d:\n%s", len(lines), len(tc.want), strings.Join(lines, "\n"))
			}
			for i, w := range tc.want {
				pos, msg := dir+w[0], w[1]
				if !strings.HasPrefix(lines[i], pos) {
					t.Errorf("diagnostic %d at the wrong place:\n got %s\nwant %s...", i, lines[i], pos)
				}
				if !strings.Contains(lines[i], msg) {
					t.Errorf("diagnostic %d:\n got %s\nwant it to contain %q", i, lines[i], msg)
				}
			}
		})
	}
}

// TestValidateEveryInvalidFixtureTested keeps the table above complete.
func TestValidateEveryInvalidFixtureTested(t *testing.T) {
	entries, err := os.ReadDir("testdata/invalid")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("validate_test.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.Contains(string(src), `{"`+e.Name()+`", `) {
			t.Errorf("testdata/invalid/%s has no case in TestValidateInvalid", e.Name())
		}
	}
}

// TestValidateInline covers the other errors the loader reports, each with
// its position in test.hcl.
func TestValidateInline(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"missing when", "rule \"r\" {\n  message = \"m\"\n}\n", `test.hcl:1:1: Missing when; Rule "r" needs a when condition (or enabled = false to turn a rule off).`},
		{"when null", "rule \"r\" {\n  when = null\n  message = \"m\"\n}\n", `test.hcl:2:10: Invalid value; when must not be null.`},
		{"missing message", "rule \"r\" {\n  when = true\n}\n", `test.hcl:1:1: Missing message; Rule "r" needs a message, an advice, or both.`},
		{"bad rule name", "rule \"no spaces\" {\n  when = true\n  message = \"m\"\n}\n", `test.hcl:1:6: Invalid rule name`},
		{"unknown function", "rule \"r\" {\n  when = widen(1) > 0\n  message = \"m\"\n}\n", `test.hcl:2:10: Call to unknown function; There is no function named "widen".`},
		{"function argument", "rule \"r\" {\n  when = true\n  message = \"m\"\n  set \"net.ipv4.ip_local_port_range\" {\n    value = widen_port_range(\"1 2 3\", 10)\n  }\n}\n", `test.hcl:5:31: Invalid function argument; Invalid value for "range" parameter: port range "1 2 3": want two numbers.`},
		{"message not a string", "rule \"r\" {\n  when = true\n  message = [1, 2]\n}\n", `test.hcl:3:13: Wrong type; message must be a string, but this expression is a tuple`},
		{"value of the wrong shape", "rule \"r\" {\n  when = true\n  message = \"m\"\n  set \"net.core.somaxconn\" {\n    value = 1.5\n  }\n}\n", `test.hcl:5:13: Invalid value; The value of net.core.somaxconn: must be a whole number`},
		{"duplicate set", "rule \"r\" {\n  when = true\n  message = \"m\"\n  set \"net.core.somaxconn\" {\n    value = 8192\n  }\n  set \"net.core.somaxconn\" {\n    value = 4096\n  }\n}\n", `test.hcl:7:7: Duplicate set; Rule "r" already sets net.core.somaxconn at test.hcl:4:7.`},
		{"duplicate rule in one file", "rule \"r\" {\n  when = true\n  message = \"m\"\n}\nrule \"r\" {\n  when = true\n  message = \"m\"\n}\n", `test.hcl:5:6: Duplicate rule; Rule "r" is already declared at test.hcl:1:1; a file declares a rule once (a later file may replace it).`},
		{"observation in a guardrail", "guardrail \"net.core.somaxconn\" {\n  max = sysctl.somaxconn * 2\n}\n", `test.hcl:2:9: Variables not allowed`},
		{"guardrail key", "guardrail \"net.ipv4.tcp_tw_recycle\" {\n  max = 1\n}\n", `test.hcl:1:11: Key not allowed; net.ipv4.tcp_tw_recycle was removed in Linux 4.12`},
		{"slash key", "guardrail \"net/core/somaxconn\" {\n  max = 1\n}\n", `(write sysctl names with dots: "net.core.somaxconn")`},
		{"guardrail min above max", "guardrail \"net.core.somaxconn\" {\n  min = 10\n  max = 5\n}\n", `test.hcl:2:9: Invalid guardrail; min 10 is above max 5.`},
		{"guardrail tw_reuse 3", "guardrail \"net.ipv4.tcp_tw_reuse\" {\n  max = 3\n}\n", `test.hcl:2:9: Guardrail loosens a built-in; max = 3 is above the built-in bound 2`},
		{"guardrail allowed value", "guardrail \"net.ipv4.tcp_tw_reuse\" {\n  allowed = [1, 5]\n}\n", `test.hcl:2:13: Invalid guardrail; allowed value: 5 is outside 0..2`},
		{"guardrail fin_timeout above 120", "guardrail \"net.ipv4.tcp_fin_timeout\" {\n  max = 600\n}\n", `test.hcl:2:9: Guardrail loosens a built-in; max = 600 is above the built-in bound 120`},
		{"guardrail syncookies off", "guardrail \"net.ipv4.tcp_syncookies\" {\n  min = 0\n}\n", `test.hcl:2:9: Guardrail loosens a built-in; min = 0 is below the built-in bound 1`},
		{"privileged low on another key", "guardrail \"net.core.somaxconn\" {\n  allow_privileged_low = true\n}\n", `test.hcl:2:26: Not applicable; allow_privileged_low applies to net.ipv4.ip_local_port_range only.`},
		{"min on reserved ports", "guardrail \"net.ipv4.ip_local_reserved_ports\" {\n  min = 1\n}\n", `test.hcl:2:9: Not applicable; min does not apply`},
		{"reserve out of range", "guardrail \"net.ipv4.ip_local_port_range\" {\n  reserve = [8443, 70000, 0]\n}\n", "test.hcl:2:20: Invalid guardrail; reserve: 70000 is not a port number from 1 to 65535.\ntest.hcl:2:27: Invalid guardrail; reserve: 0 is not a port number from 1 to 65535."},
		{"reserve not a number", "guardrail \"net.ipv4.ip_local_port_range\" {\n  reserve = [8443, \"https\"]\n}\n", `test.hcl:2:20: Invalid guardrail; reserve: "https" is not a port or a range such as "30000-32767".`},
		{"reserve a fraction", "guardrail \"net.ipv4.ip_local_port_range\" {\n  reserve = [8443.5]\n}\n", `test.hcl:2:14: Invalid guardrail; reserve: want a whole number, got 8443.5.`},
		{"reserve not a list", "guardrail \"net.ipv4.ip_local_port_range\" {\n  reserve = 8443\n}\n", `test.hcl:2:13: Wrong type; reserve must be a list of ports and ranges, such as [8443, "30000-32767"].`},
		{"reserve on another key", "guardrail \"net.core.somaxconn\" {\n  reserve = [8443]\n}\n", `test.hcl:2:13: Not applicable; reserve applies to net.ipv4.ip_local_port_range only.`},
		{"reserve reads the observation", "guardrail \"net.ipv4.ip_local_port_range\" {\n  reserve = listening_ports\n}\n", `test.hcl:2:13: Variables not allowed`},
		{"bad cooldown", "guardrail \"net.core.somaxconn\" {\n  cooldown = \"5 minutes\"\n}\n", `test.hcl:2:14: Invalid duration; cooldown: time: unknown unit`},
		{"bad max_step", "guardrail \"net.core.somaxconn\" {\n  max_step = 0\n}\n", `test.hcl:2:14: Invalid guardrail; max_step must be 1 or more.`},
		{"bad mode", "agent {\n  mode = \"yolo\"\n}\n", `test.hcl:2:10: Invalid mode; mode "yolo": want "dry-run" or "enforce".`},
		{"short interval", "agent {\n  interval = \"100ms\"\n}\n", `test.hcl:2:14: Invalid interval; interval 100ms: want 1s or more.`},
		{"persist path", "agent {\n  persist_path = \"/etc/sysctl.d/tcp\"\n}\n", `test.hcl:2:18: Invalid persist_path`},
		{"persist path outside sysctl.d", "agent {\n  persist_path = \"/var/tmp/x.conf\"\n}\n", `test.hcl:2:18: Invalid persist_path; persist_path "/var/tmp/x.conf": want a *.conf file directly in /etc/sysctl.d`},
		{"persist path escaping sysctl.d", "agent {\n  persist_path = \"/etc/sysctl.d/../cron.d/x.conf\"\n}\n", `test.hcl:2:18: Invalid persist_path`},
		{"persist path below sysctl.d", "agent {\n  persist_path = \"/etc/sysctl.d/sub/x.conf\"\n}\n", `test.hcl:2:18: Invalid persist_path`},
		{"persist not a bool", "agent {\n  persist = \"maybe\"\n}\n", `test.hcl:2:13: Wrong type; persist must be a bool`},
		{"unknown agent attribute", "agent {\n  dry_run = true\n}\n", `test.hcl:2:3: Unsupported argument`},
		{"literal port range below 1024", "rule \"r\" {\n  when = true\n  message = \"m\"\n  set \"net.ipv4.ip_local_port_range\" {\n    value = \"80 60999\"\n  }\n}\n", `test.hcl:5:13: Invalid value; The value of net.ipv4.ip_local_port_range: "80 60999": low below 1024.`},
		{"literal port range above 65535", "rule \"r\" {\n  when = true\n  message = \"m\"\n  set \"net.ipv4.ip_local_port_range\" {\n    value = \"32768 70000\"\n  }\n}\n", `want 0 <= low <= high <= 65535`},
		{"literal reserved ports", "rule \"r\" {\n  when = true\n  message = \"m\"\n  set \"net.ipv4.ip_local_reserved_ports\" {\n    value = \"8080,9100-9000\"\n  }\n}\n", `test.hcl:5:13: Invalid value; The value of net.ipv4.ip_local_reserved_ports: port list "8080,9100-9000"`},
		{"reserve a backwards range", "guardrail \"net.ipv4.ip_local_port_range\" {\n  reserve = [\"9100-9000\"]\n}\n", `test.hcl:2:14: Invalid guardrail; reserve: "9100-9000" is not a port or a range`},
		{"low_floor on another key", "guardrail \"net.core.somaxconn\" {\n  low_floor = 5\n}\n", `test.hcl:2:15: Not applicable; low_floor applies to net.ipv4.ip_local_port_range only.`},
		{"low_floor below min", "guardrail \"net.ipv4.ip_local_port_range\" {\n  min = 20000\n  low_floor = 10000\n}\n", `test.hcl:3:15: Invalid guardrail; low_floor 10000 is below min 20000`},
		{"low_floor privileged", "guardrail \"net.ipv4.ip_local_port_range\" {\n  low_floor = 500\n}\n", `test.hcl:2:15: Guardrail loosens a built-in; low_floor = 500 is below the built-in bound 1024`},
		{"enabled not a bool", "rule \"r\" {\n  enabled = \"no\"\n}\n", `test.hcl:2:13: Wrong type; enabled must be a bool`},
		{"recursive locals", "locals {\n  a = local.b + 1\n  b = local.c\n  c = local.a\n}\n", `test.hcl:2:3: Recursive locals; The locals read each other in a cycle: local.a → local.b → local.c → local.a.`},
		{"self-referencing local", "locals {\n  a = local.a\n}\n", `Recursive locals; The locals read each other in a cycle: local.a → local.a.`},
		{"unknown local", "locals {\n  share = 1\n}\nrule \"r\" {\n  when = local.shares > 0\n  message = \"m\"\n}\n", `test.hcl:5:15: Unknown local; There is no local "shares" in this file (did you mean "share"?).`},
		{"duplicate local", "locals {\n  a = 1\n}\nlocals {\n  a = 2\n}\n", `test.hcl:5:3: Duplicate local; local.a is already declared at test.hcl:2:3.`},
		{"local of the wrong type", "locals {\n  n = worst.utilization\n}\nrule \"r\" {\n  when = local.n\n  message = \"m\"\n}\n", `test.hcl:5:10: Wrong type; when must be a bool, but this expression is a number.`},
		{"attribute of a local", "locals {\n  w = worst\n}\nrule \"r\" {\n  when = local.w.utilisation > 0\n  message = \"m\"\n}\n", `test.hcl:5:17: Unknown variable; local.w has no attribute "utilisation" (did you mean "utilization"?)`},
		{"nested too deeply", "rule \"r\" {\n  when = " + strings.Repeat("(", 100) + "true" + strings.Repeat(")", 100) + "\n  message = \"m\"\n}\n", `test.hcl:2:73: Nested too deeply`},
		{"unary operators in a row", "rule \"r\" {\n  when = " + strings.Repeat("!", 200000) + "true\n  message = \"m\"\n}\n", `test.hcl:2:73: Nested too deeply; More than 64 levels of nesting and ! or - operators in a row here`},
		{"negations in a row", "rule \"r\" {\n  when = " + strings.Repeat("-", 200000) + "1 > 0\n  message = \"m\"\n}\n", `test.hcl:2:73: Nested too deeply`},
		{"unary operators across lines", "rule \"r\" {\n  when = (" + strings.Repeat("! # no\n", 100) + "true)\n  message = \"m\"\n}\n", `test.hcl:64:1: Nested too deeply`},
		{"unary operators in brackets", "rule \"r\" {\n  when = " + strings.Repeat("(", 60) + strings.Repeat("!", 10) + "true" + strings.Repeat(")", 60) + "\n  message = \"m\"\n}\n", `test.hcl:2:73: Nested too deeply`},
		{"bounded with a bad key", "rule \"r\" {\n  when = true\n  message = \"m\"\n  set \"net.core.somaxconn\" {\n    value = bounded(\"kernel.panic\", 5)\n  }\n}\n", `test.hcl:5:22: Invalid function argument; Invalid value for "key" parameter: kernel.panic is not a TCP/port sysctl`},
		{"index into an unknown state", "rule \"r\" {\n  when = states[\"TIMEWAIT\"] > 0\n  message = \"m\"\n}\n", `test.hcl:2:16: Unknown variable; states has no attribute "TIMEWAIT" (did you mean "TIME_WAIT"?)`},
		{"attribute of a list element", "rule \"r\" {\n  when = destinations[0].remotes == \"\"\n  message = \"m\"\n}\n", `test.hcl:2:25: Unknown variable; destinations[…] has no attribute "remotes" (did you mean "remote"?)`},
		{"comparison of a string", "rule \"r\" {\n  when = worst.remote > \"x\"\n  message = \"m\"\n}\n", `test.hcl:2:25: Invalid operand; Unsuitable value for right operand: a number is required.`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set, diags := loadString(t, tc.src)
			got := diagString(diags)
			if set != nil || !diags.HasErrors() {
				t.Fatalf("loaded without error:\n%s", got)
			}
			if !strings.Contains(got, tc.want) {
				t.Errorf("got:\n%s\nwant it to contain:\n%s", got, tc.want)
			}
		})
	}
}

// TestValidateValid covers what a valid policy may say.
func TestValidateValid(t *testing.T) {
	tests := []struct{ name, src string }{
		{"advice only", "rule \"r\" {\n  when = close_wait.count > 0\n  advice = \"close your sockets\"\n}\n"},
		{"for expression", "rule \"r\" {\n  when = length([for d in destinations : d if d.utilization > 0.5]) > 0\n  message = join(\", \", [for d in destinations : d.remote])\n}\n"},
		{"splat", "rule \"r\" {\n  when = contains(destinations[*].remote, \"10.0.0.1:80\")\n  message = \"m\"\n}\n"},
		{"index by state name", "rule \"r\" {\n  when = states[\"TIME_WAIT\"] > states.ESTABLISHED\n  message = \"m\"\n}\n"},
		{"conditional severity", "rule \"r\" {\n  severity = worst.utilization > 0.9 ? \"critical\" : \"info\"\n  when = worst.known\n  message = \"m\"\n}\n"},
		{"object value", "rule \"r\" {\n  when = true\n  message = \"m\"\n  set \"net.ipv4.ip_local_port_range\" {\n    value = { low = 20000, high = 60999 }\n  }\n}\n"},
		{"privileged low allowed", "guardrail \"net.ipv4.ip_local_port_range\" {\n  min = 500\n  allow_privileged_low = true\n}\nrule \"r\" {\n  when = true\n  message = \"m\"\n  set \"net.ipv4.ip_local_port_range\" {\n    value = \"500 60999\"\n  }\n}\n"},
		{"number cooldown", "guardrail \"net.core.somaxconn\" {\n  cooldown = 300\n  allowed = [\"4096\", 8192]\n}\n"},
		{"listening ports", "rule \"r\" {\n  when = contains(listening_ports, 8080)\n  message = \"listening on ${join(\",\", listening_ports)}\"\n}\n"},
		{"empty file", ""},
		{"reserve", "guardrail \"net.ipv4.ip_local_port_range\" {\n  reserve = [9100, 8443, 9100, \"30000-32767\", \"5432\"]\n}\n"},
		{"low_floor", "guardrail \"net.ipv4.ip_local_port_range\" {\n  low_floor = 20000\n}\n"},
		{"locals", "locals {\n  busy = worst.utilization > local.limit\n  limit = 0.5\n}\nrule \"r\" {\n  when = local.busy\n  message = \"busy: ${local.busy ? \"yes\" : \"no\"}\"\n}\n"},
		{"disable", "rule \"r\" {\n  when = true\n  message = \"m\"\n}\n"},
		{"reserve nothing", "guardrail \"net.ipv4.ip_local_port_range\" {\n  reserve = []\n}\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mustLoad(t, tc.src)
		})
	}
}

// TestDefaultFilesLoad loads every shipped default policy: embedded, as a
// directory layered on the embedded copies (which it replaces rule by
// rule), and each file on its own.
func TestDefaultFilesLoad(t *testing.T) {
	def := Default()
	if len(def.Rules) < 6 {
		t.Errorf("Default() has %d rules", len(def.Rules))
	}
	if def.Settings.Mode != advisor.ModeDryRun {
		t.Errorf("default mode %q", def.Settings.Mode)
	}
	dir, diags := Load(".")
	if len(diags) > 0 || dir == nil {
		t.Fatalf("Load(.):\n%s", diagString(diags))
	}
	if len(dir.Rules) != len(def.Rules) || len(dir.Files) != 2*len(def.Files) || len(dir.Guardrails) != len(def.Guardrails) {
		t.Errorf("Load(.) and Default() differ: %s / %s", dir.Describe(), def.Describe())
	}
	for _, r := range dir.Rules {
		if r.Replaces == nil || !strings.HasPrefix(r.Replaces.Filename, DefaultPrefix) || strings.HasPrefix(r.Source.Filename, DefaultPrefix) {
			t.Errorf("rule %s from %s should replace the embedded copy, replaces %v", r.Name, r.Source.Filename, r.Replaces)
		}
	}
	files, _ := filepath.Glob("*.hcl")
	if len(files) != len(DefaultFiles()) {
		t.Errorf("%d .hcl files, %d embedded", len(files), len(DefaultFiles()))
	}
	for _, f := range files {
		if _, diags := Load(f); len(diags) > 0 {
			t.Errorf("%s:\n%s", f, diagString(diags))
		}
		if _, ok := DefaultFiles()[f]; !ok {
			t.Errorf("%s is not embedded", f)
		}
	}
	for i, f := range def.Files {
		if want := DefaultPrefix + filepath.Base(dir.Files[len(def.Files)+i]); f != want {
			t.Errorf("file %d: %s, want %s", i, f, want)
		}
	}
}

// TestLoadPaths covers what Load does with paths.
func TestLoadPaths(t *testing.T) {
	// A directory skips hidden files, non-.hcl files and subdirectories,
	// and a file given twice loads once.
	dir := t.TempDir()
	write := func(name, src string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("20-b.hcl", "rule \"b\" {\n  when = false\n  message = \"b\"\n}\n")
	write("10-a.hcl", "rule \"a\" {\n  when = false\n  message = \"a\"\n}\n")
	write(".#10-a.hcl", "not hcl at all {")
	write("README.md", "not hcl either {")
	write("sub/30-c.hcl", "broken {")
	set, diags := Load(dir, filepath.Join(dir, "10-a.hcl"))
	if len(diags) > 0 {
		t.Fatal(diagString(diags))
	}
	n := len(Default().Rules)
	if len(set.Rules) != n+2 || set.Rules[n].Name != "a" || set.Rules[n+1].Name != "b" {
		t.Errorf("rules not the defaults then a, b in name order: %v", set.Files)
	}

	_, diags = Load(filepath.Join(dir, "missing.hcl"))
	if got := diagString(diags); !strings.HasPrefix(got, filepath.Join(dir, "missing.hcl")+": Cannot read policy path") {
		t.Errorf("missing file: %s", got)
	}
	// An empty policy directory, or none, is the defaults.
	for _, paths := range [][]string{{t.TempDir()}, nil} {
		set, diags := Load(paths...)
		if len(diags) > 0 || len(set.Rules) != n || set.Files[0] != DefaultPrefix+"00-agent.hcl" {
			t.Errorf("Load(%v): %s\n%s", paths, set.Describe(), diagString(diags))
		}
	}
	write("huge.hcl", "# "+strings.Repeat("x", maxFileSize)+"\n")
	if _, diags = Load(filepath.Join(dir, "huge.hcl")); !strings.Contains(diagString(diags), "larger than 1024 KiB") {
		t.Errorf("a huge file: %s", diagString(diags))
	}
}

// TestLayers: an operator's files override the defaults the way sysctl.d
// and systemd drop-ins do.
func TestLayers(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// One file that only tightens the port-range guardrail and turns one
	// default rule off.
	tighten := write("50-site.hcl", `
guardrail "net.ipv4.ip_local_port_range" {
  max_step = 4096
  max      = 61000
}

rule "time-wait-reuse" {
  enabled = false
}
`)
	set, diags := Load(dir)
	if len(diags) > 0 {
		t.Fatal(diagString(diags))
	}
	var names []string
	for _, r := range set.Rules {
		names = append(names, r.Name)
	}
	if slices.Contains(names, "time-wait-reuse") || !slices.Contains(names, "port-exhaustion") || len(names) != len(Default().Rules)-1 {
		t.Errorf("rules %v: want the defaults without time-wait-reuse", names)
	}
	if at, ok := set.Disabled["time-wait-reuse"]; !ok || at.Filename != tighten {
		t.Errorf("disabled: %v", set.Disabled)
	}
	g := set.Guardrail(advisor.KeyPortRange)
	if *g.MaxStep != 4096 || *g.Max != 61000 || *g.Min != 1024 || g.Cooldown != 5*time.Minute {
		t.Errorf("merged guardrail: step %d max %d min %d cooldown %s", *g.MaxStep, *g.Max, *g.Min, g.Cooldown)
	}
	if len(g.Sources) != 2 || g.Sources[0].Filename != DefaultPrefix+"10-port-exhaustion.hcl" || g.Sources[1].Filename != tighten {
		t.Errorf("guardrail sources %v", g.Sources)
	}
	// The port-exhaustion rule acts with the tighter step.
	o := exhaustedHost()
	o.setWorst(1000, 1000, nil)
	recs, _ := set.Evaluate(o.Snapshot, o.Findings)
	if r := find(recs, "port-exhaustion"); r == nil || r.Changes[0].Value != "40000 45095" {
		t.Errorf("port-exhaustion with the tighter step: %+v", r)
	}

	// A rule with a default's name replaces it in place; agent attributes
	// override one by one.
	write("60-rule.hcl", `
agent {
  mode = "enforce"
}

rule "close-wait-leak" {
  topic   = "close-wait"
  when    = close_wait.count > 10
  message = "site leak rule"
}
`)
	set, diags = Load(dir)
	if len(diags) > 0 {
		t.Fatal(diagString(diags))
	}
	i := slices.IndexFunc(set.Rules, func(r *Rule) bool { return r.Name == "close-wait-leak" })
	if i < 0 || set.Rules[i].Replaces == nil || set.Rules[i].Replaces.Filename != DefaultPrefix+"50-close-wait.hcl" || !strings.HasSuffix(set.Rules[i].Source.Filename, "60-rule.hcl") {
		t.Fatalf("close-wait-leak not replaced in place: %+v", set.Rules)
	}
	if set.Settings.Mode != advisor.ModeEnforce || set.Settings.Interval != 10*time.Second || len(set.Settings.Sources) != 2 {
		t.Errorf("settings %+v", set.Settings)
	}

	// defaults = false starts from nothing.
	write("00-no-defaults.hcl", "agent {\n  defaults = false\n}\n")
	set, diags = Load(dir)
	if diags.HasErrors() {
		t.Fatal(diagString(diags))
	}
	if len(set.Rules) != 1 || set.Rules[0].Name != "close-wait-leak" || set.Rules[0].Replaces != nil || strings.HasPrefix(set.Files[0], DefaultPrefix) {
		t.Errorf("defaults = false kept the defaults: %s %v", set.Describe(), set.Files)
	}
	if *set.Guardrail(advisor.KeyPortRange).MaxStep != 4096 || set.Guardrail(advisor.KeyPortRange).Cooldown != 0 {
		t.Error("defaults = false kept the default guardrail")
	}
	// Disabling a rule no layer declares is a warning, and says so.
	if got := diagString(diags); !strings.Contains(got, `warning: Rule disables nothing; No earlier policy file declares rule "time-wait-reuse"`) {
		t.Errorf("diagnostics: %s", got)
	}
}

// TestLoadNoRules: a policy set without rules silently disables every
// recommendation, so Load warns, pointing at the agent block, and still
// returns the set.
func TestLoadNoRules(t *testing.T) {
	dir := t.TempDir()
	agent := filepath.Join(dir, "00-agent.hcl")
	if err := os.WriteFile(agent, []byte("# enforce, please\nagent {\n  mode = \"enforce\"\n  defaults = false\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	set, diags := Load(dir)
	if set == nil || diags.HasErrors() || len(diags) != 1 {
		t.Fatalf("Load(%s): set %v\n%s", dir, set, diagString(diags))
	}
	got := diagString(diags)
	for _, want := range []string{agent + ":2:1: warning: No rules; ", "has no rule in force", "defaults = false"} {
		if !strings.Contains(got, want) {
			t.Errorf("warning lacks %q:\n%s", want, got)
		}
	}
	if set.Settings.Mode != advisor.ModeEnforce {
		t.Errorf("mode %q", set.Settings.Mode)
	}
	if _, diags = Load(); len(diags) > 0 {
		t.Errorf("defaults: %s", diagString(diags))
	}
}
