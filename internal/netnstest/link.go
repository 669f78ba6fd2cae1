package netnstest

import (
	"os/exec"
	"testing"
)

// Link joins two scratch namespaces with a veth pair, a link between two
// hosts: a gets aAddr and b gets bAddr (CIDR, such as "10.99.0.1/24"), and
// both ends come up. Deleting either namespace removes the pair.
func Link(t testing.TB, a, b *NS, aAddr, bAddr string) {
	t.Helper()
	if a.Name == "" || b.Name == "" {
		t.Fatal("netnstest.Link joins named namespaces (New) only")
	}
	aIf, bIf := "veth-"+a.Name[len(a.Name)-6:], "veth-"+b.Name[len(b.Name)-6:]
	if out, err := exec.Command("ip", "link", "add", aIf, "netns", a.Name, "type", "veth", "peer", "name", bIf, "netns", b.Name).CombinedOutput(); err != nil {
		t.Fatalf("ip link add: %v: %s", err, out)
	}
	a.MustRun(t, "ip", "addr", "add", aAddr, "dev", aIf)
	a.MustRun(t, "ip", "link", "set", aIf, "up")
	b.MustRun(t, "ip", "addr", "add", bAddr, "dev", bIf)
	b.MustRun(t, "ip", "link", "set", bIf, "up")
}
