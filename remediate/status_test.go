package remediate

import (
	"strings"
	"testing"

	"github.com/tcp-advisor/tcp-advisor/advisor"
)

// TestWriteOriginals: the originals of the keys still managed, in
// sysctl.conf form and rollback's order (the range before the
// reservations), without the released ones.
func TestWriteOriginals(t *testing.T) {
	s := Status{Managed: []KeyStatus{
		{Key: advisor.KeyReservedPorts, Original: ""},
		{Key: advisor.KeyPortRange, Original: "40000\t40199"},
		{Key: advisor.KeyTwReuse, Original: "2", Released: true},
	}}
	var b strings.Builder
	if err := s.WriteOriginals(&b, "/var/lib/tcp-advisor"); err != nil {
		t.Fatal(err)
	}
	want := advisor.KeyPortRange + " = 40000 40199\n" + advisor.KeyReservedPorts + " = \n"
	if !strings.HasSuffix(b.String(), want) || strings.Contains(b.String(), advisor.KeyTwReuse) || !strings.HasPrefix(b.String(), "# ") {
		t.Errorf("originals:\n%s\nwant them ending in:\n%s", b.String(), want)
	}
	b.Reset()
	if err := (Status{}).WriteOriginals(&b, "/var/lib/tcp-advisor"); err != nil || b.Len() != 0 {
		t.Errorf("nothing managed: %q %v", b.String(), err)
	}
}
