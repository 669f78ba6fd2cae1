package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/tcp-advisor/tcp-advisor/internal/netnstest"
)

// diagnoseJSON is the documented subset of `diagnose --format json`.
type diagnoseJSON struct {
	States       map[string]int `json:"states"`
	Destinations []struct {
		Local       string  `json:"local"`
		Remote      string  `json:"remote"`
		PortsInUse  int     `json:"ports_in_use"`
		PortsUsable int     `json:"ports_usable"`
		Utilization float64 `json:"utilization"`
	} `json:"destinations"`
	CloseWait struct {
		Count   int `json:"count"`
		ByOwner []struct {
			PID     int    `json:"pid"`
			Command string `json:"command"`
			Unit    string `json:"unit"`
			Count   int    `json:"count"`
		} `json:"by_owner"`
		Pattern string `json:"pattern"`
	} `json:"close_wait"`
	Verdicts []struct {
		Topic string `json:"topic"`
		Level string `json:"level"`
	} `json:"verdicts"`
}

// TestKernelDiagnoseExhaustionAndLeak is the acceptance scenario: a
// narrowed range, 900 client-closed connections to one destination and 300
// connections whose server never closes.
func TestKernelDiagnoseExhaustionAndLeak(t *testing.T) {
	advisorBin, loadBin := binaries(t)
	ns := exhaustionNS(t)
	ns.MustRun(t, loadBin, "timewait", "-addr", "127.0.0.1:9000", "-n", "900")
	holder := ns.Start(t, "ready", loadBin, "closewait", "-addr", "127.0.0.1:9100", "-n", "300")

	out := ns.MustRun(t, advisorBin, "diagnose", "--format", "json")
	var d diagnoseJSON
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("diagnose JSON: %v\n%s", err, out)
	}
	ssTimeWait := strings.Count(ns.MustRun(t, "ss", "-tanH", "state", "time-wait"), "\n")
	if tw := d.States["TIME_WAIT"]; tw < 890 || tw != ssTimeWait {
		t.Errorf("TIME_WAIT = %d, want >= 890 and equal to ss's %d", tw, ssTimeWait)
	}
	if len(d.Destinations) == 0 {
		t.Fatal("no destinations")
	}
	top := d.Destinations[0]
	if top.Remote != "127.0.0.1:9000" || top.PortsInUse < 890 || top.PortsUsable != 1000 || top.Utilization < 0.89 {
		t.Errorf("top destination = %+v, want 127.0.0.1:9000 with >= 890 of 1000", top)
	}
	if d.CloseWait.Count != 300 || len(d.CloseWait.ByOwner) != 1 {
		t.Fatalf("close_wait = %+v, want 300 under one owner", d.CloseWait)
	}
	// ip netns exec runs the holder as a child; the socket's owner is the
	// tcpload process itself.
	owner := d.CloseWait.ByOwner[0]
	if owner.Command != "tcpload" || owner.Count != 300 || owner.PID == 0 {
		t.Errorf("owner = %+v, want tcpload holding 300", owner)
	}
	if holder.Process.Pid != owner.PID && !isDescendant(owner.PID, holder.Process.Pid) {
		t.Errorf("owner pid %d is not the holder (%d) or its child", owner.PID, holder.Process.Pid)
	}
	if d.CloseWait.Pattern != "one-remote-dominates" {
		t.Errorf("pattern = %q", d.CloseWait.Pattern)
	}
	levels := map[string]string{}
	for _, v := range d.Verdicts {
		levels[v.Topic] = v.Level
	}
	if levels["ephemeral-ports"] == "ok" || levels["close-wait"] == "ok" {
		t.Errorf("verdicts = %v, want ports and close-wait flagged", levels)
	}

	text := ns.MustRun(t, advisorBin, "diagnose", "--samples", "2", "--interval", "200ms")
	for _, want := range []string{"127.0.0.1:9000", "EADDRNOTAVAIL", "application bug", "tcpload", "stuck"} {
		if !strings.Contains(text, want) {
			t.Errorf("text diagnosis lacks %q:\n%s", want, text)
		}
	}
}

// TestKernelDiagnoseIdle checks a fresh namespace has nothing to report.
func TestKernelDiagnoseIdle(t *testing.T) {
	advisorBin, _ := binaries(t)
	ns := netnstest.New(t)
	var d diagnoseJSON
	if err := json.Unmarshal([]byte(ns.MustRun(t, advisorBin, "diagnose", "--format", "json")), &d); err != nil {
		t.Fatal(err)
	}
	if len(d.States) != 0 || len(d.Destinations) != 0 || d.CloseWait.Count != 0 {
		t.Errorf("idle namespace: %+v", d)
	}
	for _, v := range d.Verdicts {
		if v.Level != "ok" && v.Level != "info" {
			t.Errorf("idle namespace verdict %s = %s", v.Topic, v.Level)
		}
	}
}

// TestKernelDiagnoseBindExhaustion: sockets that bind() to port 0 before
// connect() hold their port for every destination (advisor/KERNEL.md, "Ports"). 950 of
// them spread over 20 destinations leave each destination nearly empty but
// bind() with almost no port to take; diagnose must say so.
func TestKernelDiagnoseBindExhaustion(t *testing.T) {
	advisorBin, loadBin := binaries(t)
	ns := netnstest.New(t)
	ns.SetSysctl(t, "net.ipv4.ip_local_port_range", "40000 40999")
	addrs := make([]string, 20)
	for i := range addrs {
		addrs[i] = fmt.Sprintf("127.0.0.1:%d", 9000+i)
	}
	ns.MustRun(t, loadBin, "timewait", "-bind", "-addr", strings.Join(addrs, ","), "-n", "950")

	var d struct {
		Ports struct {
			DistinctInUse   int     `json:"distinct_in_use"`
			BindUtilization float64 `json:"bind_utilization"`
		} `json:"ports"`
		Destinations []struct {
			Utilization float64 `json:"utilization"`
		} `json:"destinations"`
		Verdicts []struct{ Topic, Level, Summary string } `json:"verdicts"`
	}
	out := ns.MustRun(t, advisorBin, "diagnose", "--format", "json")
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatal(err)
	}
	if d.Ports.DistinctInUse < 940 || d.Ports.BindUtilization < 0.94 {
		t.Errorf("distinct ports %d (%.2f), want >= 940 of 1000", d.Ports.DistinctInUse, d.Ports.BindUtilization)
	}
	if len(d.Destinations) == 0 || d.Destinations[0].Utilization > 0.1 {
		t.Errorf("destinations = %+v, want each under 10%%", d.Destinations)
	}
	for _, v := range d.Verdicts {
		if v.Topic == "ephemeral-ports" && (v.Level != "critical" || !strings.Contains(v.Summary, "bind()")) {
			t.Errorf("ports verdict = %+v, want critical about bind()", v)
		}
	}
}
