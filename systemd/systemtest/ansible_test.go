package systemtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tcp-advisor/tcp-advisor/internal/testbin"
	"github.com/tcp-advisor/tcp-advisor/policies"
	"github.com/tcp-advisor/tcp-advisor/systemd"
)

// Paths inside the container.
const (
	ansibleDir   = "/root/ansible"
	ansibleVars  = ansibleDir + "/vars.json"
	ansibleDeb   = "/root/packages/tcp-advisor_" + oldVersion + ".deb"
	sitePolicy   = "/etc/tcp-advisor/policies.d/10-site.hcl"
	textfilePath = "/var/lib/prometheus/node-exporter/tcp-advisor.prom"
)

// sitePolicyText is a policy set of one file; version tells rollouts apart.
func sitePolicyText(version int) string {
	return fmt.Sprintf(`# Rolled out by Ansible (system test), version %d.
rule "site-advice" {
  severity = "info"
  when     = true
  message  = "site policy version %d is in force"
}
`, version, version)
}

// policyTests holds the site's policy tests inside the container.
const policyTests = "/root/policy-tests"

// sitePolicyTest expects, on the recording of the nginx load balancer
// without upstream keepalive, the default rules' change, their churn advice
// naming nginx, and the site's
// advice.
const sitePolicyTest = `test "the nginx incident needs tcp_tw_reuse alone" {
  recording = "nginx-lb.json.gz"

  expect {
    level = "critical"
    change "net.ipv4.tcp_tw_reuse" {
      rule = "time-wait-reuse"
    }
    advice "site-advice" {}
    advice "connection-churn" {
      contains = "opened by nginx"
    }
  }
}
`

// brokenSitePolicy fails to compile: an attribute without a value.
const brokenSitePolicy = `rule "site-advice" {
  when =
}
`

// checksumOf is the checksum the agent reports for a policy directory that
// holds exactly these files.
func checksumOf(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	set, diags := policies.Load(dir)
	if diags.HasErrors() {
		t.Fatalf("policy: %v", diags)
	}
	return set.Checksum()
}

var recapRE = regexp.MustCompile(`localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)`)

// playResult is what one ansible-playbook run reported.
type playResult struct {
	out             string
	err             error
	changed, failed int
}

// runPlaybook runs the example playbook inside the container against the
// container itself, with vars, as `ansible-playbook -c local -i localhost,`.
func runPlaybook(t *testing.T, c *Container, vars map[string]any, extra ...string) playResult {
	t.Helper()
	data, err := json.Marshal(vars)
	if err != nil {
		t.Fatal(err)
	}
	c.WriteFile(t, ansibleVars, data, 0o600)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	args := append([]string{"env", "ANSIBLE_NOCOLOR=1", "ANSIBLE_RETRY_FILES_ENABLED=0",
		"ansible-playbook", "-c", "local", "-i", "localhost,", ansibleDir + "/site.yml", "-e", "@" + ansibleVars}, extra...)
	start := time.Now()
	out, err := c.exec(ctx, nil, args...)
	r := playResult{out: out, err: err}
	m := recapRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no play recap (%v):\n%s", err, out)
	}
	r.changed, _ = strconv.Atoi(m[2])
	r.failed, _ = strconv.Atoi(m[4])
	t.Logf("ansible-playbook took %v: %s", time.Since(start).Round(time.Millisecond), m[0])
	return r
}

// copyTree copies a host directory into the container.
func copyTree(t *testing.T, c *Container, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		c.CopyIn(t, path, filepath.Join(dst, rel), 0o644)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// requireAnsible: the role runs inside the container on the host's
// ansible-core and python3-apt (the container's root is the host's).
func requireAnsible(t *testing.T) {
	t.Helper()
	var missing []string
	if _, err := exec.LookPath("ansible-playbook"); err != nil {
		missing = append(missing, "ansible-playbook (ansible-core)")
	}
	if err := exec.Command("/usr/bin/python3", "-c", "import apt").Run(); err != nil {
		missing = append(missing, "python3-apt")
	}
	if len(missing) == 0 {
		return
	}
	testbin.Missing(t, "Ansible system test needs "+strings.Join(missing, ", "))
}

// policyChecksums returns the POLICY_CHECKSUM of each policy_loaded entry.
func policyChecksums(t *testing.T, c *Container) []string {
	t.Helper()
	var out []string
	for _, e := range events(t, c, systemd.EventPolicyLoaded) {
		out = append(out, e[systemd.FieldPolicyChecksum])
	}
	return out
}

// waitTextfile waits until the agent's textfile holds want.
func waitTextfile(t *testing.T, c *Container, want string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _ := c.Try("cat", textfilePath)
		if strings.Contains(out, want) {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never held %q:\n%s", textfilePath, want, out)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// TestAnsibleRoleInContainer runs the example playbook (packaging/ansible)
// in a booted systemd container, as a config-management rollout would: it
// installs the .deb, writes the policies, enables and starts the service,
// reloads it when a policy changes, changes nothing on a second run, and
// its validate steps refuse a broken policy while the last good one stays
// in force. One boot serves every step, in order.
func TestAnsibleRoleInContainer(t *testing.T) {
	requireSystemTest(t)
	requireAnsible(t)
	start := time.Now()
	debs := buildDebs(t, oldVersion)
	c := Boot(t, containerPrep(t))
	t.Logf("container booted in %v", time.Since(start).Round(time.Millisecond))
	copyTree(t, c, filepath.Join(testbin.RepoRoot(t), "packaging", "ansible"), ansibleDir)
	c.CopyIn(t, debs[oldVersion], ansibleDeb, 0o644)

	vars := map[string]any{
		"tcp_advisor_package_file":     ansibleDeb,
		"tcp_advisor_policies":         map[string]string{"10-site.hcl": sitePolicyText(1)},
		"tcp_advisor_mode":             "dry-run",
		"tcp_advisor_enabled":          true,
		"tcp_advisor_metrics_textfile": textfilePath,
		"tcp_advisor_extra_args":       []string{"--interval", "2s"},
	}
	v1 := checksumOf(t, map[string]string{"10-site.hcl": sitePolicyText(1)})
	v2 := checksumOf(t, map[string]string{"10-site.hcl": sitePolicyText(2)})

	ok := t.Run("install", func(t *testing.T) {
		r := runPlaybook(t, c, vars)
		if r.err != nil || r.failed != 0 || r.changed == 0 {
			t.Fatalf("first run: err %v, failed %d, changed %d\n%s", r.err, r.failed, r.changed, r.out)
		}
		if got := c.Run(t, "dpkg-query", "-W", "-f=${Status} ${Version}", "tcp-advisor"); got != "install ok installed "+oldVersion+"-1" {
			t.Errorf("dpkg-query: %q", got)
		}
		if got := c.Run(t, "cat", sitePolicy); got != sitePolicyText(1) {
			t.Errorf("%s:\n%s", sitePolicy, got)
		}
		if got := strings.TrimSpace(c.Run(t, "systemctl", "is-enabled", unit)); got != "enabled" {
			t.Errorf("is-enabled = %q", got)
		}
		requireActive(t, c)
		env := c.Run(t, "cat", "/etc/tcp-advisor/tcp-advisor.env")
		if want := `TCP_ADVISOR_ARGS="--mode dry-run --metrics-textfile ` + textfilePath + ` --interval 2s"`; !containsLine(env, want) {
			t.Errorf("tcp-advisor.env lacks %s:\n%s", want, env)
		}
		waitEvent(t, c, systemd.EventPolicyLoaded, 0, 20*time.Second, func(e journalEntry) bool {
			return e[systemd.FieldPolicyChecksum] == v1
		})
		waitTextfile(t, c, `tcp_advisor_policy_info{checksum="`+v1+`",mode="dry-run"} 1`)
		// The documented way to compute the checksum by hand agrees.
		sum := c.Sh(t, "{ cd /usr/share/tcp-advisor/policies && LC_ALL=C sha256sum *.hcl; cd /etc/tcp-advisor/policies.d && LC_ALL=C sha256sum *.hcl; } | sha256sum")
		if got, _, _ := strings.Cut(sum, " "); got != v1 {
			t.Errorf("the documented sha256sum pipeline says %s, the agent %s", got, v1)
		}
	})
	if !ok {
		return
	}

	pid := show(t, c, "MainPID")
	t.Run("second run changes nothing", func(t *testing.T) {
		r := runPlaybook(t, c, vars)
		if r.err != nil || r.failed != 0 || r.changed != 0 {
			t.Errorf("second run: err %v, failed %d, changed %d\n%s", r.err, r.failed, r.changed, r.out)
		}
		if now := show(t, c, "MainPID"); now != pid {
			t.Errorf("MainPID %s -> %s on a run that changed nothing", pid, now)
		}
	})

	t.Run("policy change reloads", func(t *testing.T) {
		reloads := len(events(t, c, systemd.EventReloaded))
		loaded := len(events(t, c, systemd.EventPolicyLoaded))
		vars["tcp_advisor_policies"] = map[string]string{"10-site.hcl": sitePolicyText(2)}
		r := runPlaybook(t, c, vars)
		if r.err != nil || r.failed != 0 || r.changed == 0 {
			t.Fatalf("run: err %v, failed %d, changed %d\n%s", r.err, r.failed, r.changed, r.out)
		}
		if !strings.Contains(r.out, "RUNNING HANDLER [tcp_advisor : Reload tcp-advisor]") {
			t.Errorf("the reload handler did not run:\n%s", r.out)
		}
		waitEvent(t, c, systemd.EventReloaded, reloads, 20*time.Second, nil)
		waitEvent(t, c, systemd.EventPolicyLoaded, loaded, 20*time.Second, func(e journalEntry) bool {
			return e[systemd.FieldPolicyChecksum] == v2
		})
		if now := show(t, c, "MainPID"); now != pid {
			t.Errorf("MainPID %s -> %s: a policy change restarted the agent instead of reloading it", pid, now)
		}
		waitTextfile(t, c, `tcp_advisor_policy_info{checksum="`+v2+`",mode="dry-run"} 1`)
	})

	// The site's policy tests run on the controller (here the container
	// itself) before anything is copied: a set that keeps the recorded
	// incident's outcome goes out, one that changes it stops the play.
	c.CopyIn(t, filepath.Join(testbin.RepoRoot(t), "policies", "testdata", "recordings", "nginx-lb.json.gz"), policyTests+"/nginx-lb.json.gz", 0o644)
	c.WriteFile(t, policyTests+"/site.hcltest", []byte(sitePolicyTest), 0o644)
	t.Run("policy tests pass", func(t *testing.T) {
		tested := map[string]any{"tcp_advisor_policy_tests": []string{policyTests}}
		for k, v := range vars {
			tested[k] = v
		}
		r := runPlaybook(t, c, tested)
		if r.err != nil || r.failed != 0 || r.changed != 0 {
			t.Fatalf("run: err %v, failed %d, changed %d\n%s", r.err, r.failed, r.changed, r.out)
		}
		if !strings.Contains(r.out, "TASK [tcp_advisor : Run the policy tests on the controller]") {
			t.Errorf("the policy tests did not run:\n%s", r.out)
		}
	})
	t.Run("failing policy tests stop the rollout", func(t *testing.T) {
		failing := map[string]any{"tcp_advisor_policy_tests": []string{policyTests}}
		for k, v := range vars {
			failing[k] = v
		}
		failing["tcp_advisor_policies"] = map[string]string{"10-site.hcl": sitePolicyText(3) + "rule \"time-wait-reuse\" {\n  enabled = false\n}\n"}
		r := runPlaybook(t, c, failing)
		if r.err == nil || r.failed == 0 {
			t.Fatalf("a policy set whose tests fail went through:\n%s", r.out)
		}
		failure := regexp.MustCompile(`TASK \[tcp_advisor : Run the policy tests on the controller\] \**\n(fatal|failed): \[localhost\][^\n]*non-zero return code`)
		if !failure.MatchString(r.out) || !strings.Contains(r.out, `the plan differs`) || !strings.Contains(r.out, `site.hcltest:1`) {
			t.Errorf("want the policy tests to fail the play with the diff:\n%s", r.out)
		}
		if strings.Contains(r.out, "TASK [tcp_advisor : Write the policy files]") {
			t.Errorf("the play went on to write policy files:\n%s", r.out)
		}
		if got := c.Run(t, "cat", sitePolicy); got != sitePolicyText(2) {
			t.Errorf("%s changed by a refused rollout:\n%s", sitePolicy, got)
		}
	})

	// A broken policy is refused twice over: by the role's check of the
	// whole set, and (with that check off) by copy's validate. Either way
	// the file, the agent and its policy set stay as they were.
	for _, tt := range []struct {
		name  string
		extra []string
		step  string // the task that fails
		says  string // in its failure line
	}{
		{"broken policy refused by the set check", nil, "Validate the policy set", "non-zero return code"},
		{"broken policy refused by copy's validate", []string{"-e", "tcp_advisor_validate_set=false"}, "Write the policy files", "failed to validate"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			loaded := len(events(t, c, systemd.EventPolicyLoaded))
			rejected := len(events(t, c, systemd.EventPolicyRejected))
			broken := map[string]any{}
			for k, v := range vars {
				broken[k] = v
			}
			broken["tcp_advisor_policies"] = map[string]string{"10-site.hcl": brokenSitePolicy}
			r := runPlaybook(t, c, broken, tt.extra...)
			if r.err == nil || r.failed == 0 {
				t.Fatalf("a broken policy went through: failed %d\n%s", r.failed, r.out)
			}
			// The failing task, then tcp-advisor validate's diagnostic.
			failure := regexp.MustCompile(`TASK \[tcp_advisor : ` + regexp.QuoteMeta(tt.step) + `\] \**\n(fatal|failed): \[localhost\][^\n]*` + regexp.QuoteMeta(tt.says))
			if !failure.MatchString(r.out) || !strings.Contains(r.out, ":2:9: Invalid expression") {
				t.Errorf("want %q to fail with %q and validate's diagnostic (line 2, column 9):\n%s", tt.step, tt.says, r.out)
			}
			if got := c.Run(t, "cat", sitePolicy); got != sitePolicyText(2) {
				t.Errorf("%s changed by a refused rollout:\n%s", sitePolicy, got)
			}
			time.Sleep(3 * time.Second) // a tick or so, for a reload that must not come
			requireActive(t, c)
			if now := show(t, c, "MainPID"); now != pid {
				t.Errorf("MainPID %s -> %s", pid, now)
			}
			if n := len(events(t, c, systemd.EventPolicyLoaded)); n != loaded {
				t.Errorf("policy loaded %d more times", n-loaded)
			}
			if n := len(events(t, c, systemd.EventPolicyRejected)); n != rejected {
				t.Errorf("the agent saw the broken policy (%d rejections)", n-rejected)
			}
			sums := policyChecksums(t, c)
			if last := sums[len(sums)-1]; last != v2 {
				t.Errorf("policy in force %s, want the last good one %s", last, v2)
			}
			out := waitTextfile(t, c, `tcp_advisor_policy_info{checksum="`+v2+`",mode="dry-run"} 1`)
			if !strings.Contains(out, "tcp_advisor_policy_load_success 1") {
				t.Errorf("policy_load_success is not 1:\n%s", out)
			}
		})
	}

	t.Run("metrics endpoint with the packaged drop-in", func(t *testing.T) {
		vars["tcp_advisor_metrics_listen"] = "127.0.0.1:9815"
		r := runPlaybook(t, c, vars)
		if r.err != nil || r.failed != 0 {
			t.Fatalf("run: %v\n%s", r.err, r.out)
		}
		requireActive(t, c)
		cat := c.Run(t, "systemctl", "cat", unit)
		if !strings.Contains(cat, "/etc/systemd/system/tcp-advisor.service.d/metrics-listen.conf") {
			t.Errorf("the drop-in is not in force:\n%s", cat)
		}
		sec := c.Run(t, "systemd-analyze", "security", "--no-pager", unit)
		if m := exposureRE.FindStringSubmatch(sec); m == nil {
			t.Errorf("no exposure in:\n%s", sec)
		} else if e, _ := strconv.ParseFloat(m[1], 64); e > maxExposure {
			t.Errorf("exposure with the drop-in %.1f > %.1f", e, maxExposure)
		} else {
			t.Logf("systemd-analyze security with metrics-listen.conf (installed): %.1f", e)
		}
		var body string
		deadline := time.Now().Add(20 * time.Second)
		for {
			out, err := c.Try("curl", "-fsS", "--max-time", "5", "http://127.0.0.1:9815/metrics")
			if err == nil && strings.Contains(out, `checksum="`+v2+`"`) {
				body = out
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no metrics at 127.0.0.1:9815: %v\n%s", err, out)
			}
			time.Sleep(500 * time.Millisecond)
		}
		lint := exec.Command("promtool", "check", "metrics")
		lint.Stdin = strings.NewReader(body)
		if out, err := lint.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "" {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
	})

	t.Run("all namespaces with the packaged drop-in", func(t *testing.T) {
		testAnsibleAllNamespaces(t, c, vars)
	})

	t.Run("disabled", func(t *testing.T) {
		vars["tcp_advisor_enabled"] = false
		r := runPlaybook(t, c, vars)
		if r.err != nil || r.failed != 0 {
			t.Fatalf("run: %v\n%s", r.err, r.out)
		}
		if got, _ := c.Try("systemctl", "is-active", unit); strings.TrimSpace(got) != "inactive" {
			t.Errorf("is-active = %q", strings.TrimSpace(got))
		}
		if got, _ := c.Try("systemctl", "is-enabled", unit); strings.TrimSpace(got) != "disabled" {
			t.Errorf("is-enabled = %q", strings.TrimSpace(got))
		}
	})
	t.Logf("Ansible system test took %v", time.Since(start).Round(time.Millisecond))
}

// testAnsibleAllNamespaces: tcp_advisor_all_namespaces=true installs the
// packaged all-namespaces.conf beside metrics-listen.conf and adds
// --all-namespaces, so the restarted agent enters a namespace made with
// `ip netns add`; false removes the drop-in and the flag again.
func testAnsibleAllNamespaces(t *testing.T, c *Container, vars map[string]any) {
	const dropIn = "/etc/systemd/system/tcp-advisor.service.d/all-namespaces.conf"
	c.Run(t, "ip", "netns", "add", "ansible-probe")
	t.Cleanup(func() { c.Try("ip", "netns", "del", "ansible-probe") })
	// Earlier steps restarted the unit often; this rollout is an operator's.
	c.Run(t, "systemctl", "reset-failed", unit)
	pid := show(t, c, "MainPID")

	vars["tcp_advisor_all_namespaces"] = true
	r := runPlaybook(t, c, vars)
	if r.err != nil || r.failed != 0 || r.changed == 0 {
		t.Fatalf("run: err %v, failed %d, changed %d\n%s", r.err, r.failed, r.changed, r.out)
	}
	if _, err := c.Try("cmp", allNamespacesConf, dropIn); err != nil {
		t.Errorf("%s is not the packaged %s: %v", dropIn, allNamespacesConf, err)
	}
	paths := show(t, c, "DropInPaths")
	for _, conf := range []string{dropIn, "/etc/systemd/system/tcp-advisor.service.d/metrics-listen.conf"} {
		if !strings.Contains(paths, conf) {
			t.Errorf("DropInPaths lacks %s (no daemon-reload?): %s", conf, paths)
		}
	}
	env := c.Run(t, "cat", envFile)
	if want := `TCP_ADVISOR_ARGS="--mode dry-run --metrics-textfile ` + textfilePath + ` --metrics-listen 127.0.0.1:9815 --all-namespaces --interval 2s"`; !containsLine(env, want) {
		t.Errorf("%s lacks %s:\n%s", envFile, want, env)
	}
	requireActive(t, c)
	if now := show(t, c, "MainPID"); now == pid {
		t.Errorf("MainPID still %s: the new flag and drop-in did not restart the agent", pid)
	}
	checkExposure(t, c, "all-namespaces.conf by Ansible")
	// Type=notify: the restart returned after the first tick's status.
	requireAllNamespacesObserved(t, c)

	vars["tcp_advisor_all_namespaces"] = false
	r = runPlaybook(t, c, vars)
	if r.err != nil || r.failed != 0 || r.changed == 0 {
		t.Fatalf("run: err %v, failed %d, changed %d\n%s", r.err, r.failed, r.changed, r.out)
	}
	if out, err := c.Try("test", "-e", dropIn); err == nil {
		t.Errorf("%s is still there: %s", dropIn, out)
	}
	if paths := show(t, c, "DropInPaths"); strings.Contains(paths, dropIn) || !strings.Contains(paths, "metrics-listen.conf") {
		t.Errorf("DropInPaths after the removal: %s", paths)
	}
	if env := c.Run(t, "cat", envFile); strings.Contains(env, "--all-namespaces") {
		t.Errorf("%s still says --all-namespaces:\n%s", envFile, env)
	}
	requireActive(t, c)
	if status := show(t, c, "StatusText"); namespacesWatched.MatchString(status) {
		t.Errorf("StatusText %q still counts namespaces", status)
	}
}
