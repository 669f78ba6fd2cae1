package report

import (
	"strings"
	"testing"
)

func TestWriteRollbackPlan(t *testing.T) {
	reuse := RollbackKey{Key: "net.ipv4.tcp_tw_reuse", Live: "1", Original: "2"}
	blue := RollbackKey{Key: "net.ipv4.ip_local_port_range", Live: "1024\t65535", Original: "32768\t60999", Where: " in network namespace blue"}
	tests := []struct {
		name          string
		restore, kept []RollbackKey
		want          string
	}{
		{"nothing", nil, nil, "Nothing to roll back.\n"},
		{"restore here and in a namespace", []RollbackKey{reuse, blue}, nil,
			"Will restore:\n  net.ipv4.tcp_tw_reuse \"1\" -> \"2\" (original)\n" +
				"  net.ipv4.ip_local_port_range \"1024\\t65535\" -> \"32768\\t60999\" (original) in network namespace blue\n"},
		{"only released keys", nil, []RollbackKey{reuse},
			"Nothing to roll back.\nNot restored (released: someone else changed them after tcp-advisor did, and their values stay):\n" +
				"  net.ipv4.tcp_tw_reuse is \"1\", original \"2\"; tcp-advisor rollback --key net.ipv4.tcp_tw_reuse restores it\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			WriteRollbackPlan(&b, tt.restore, tt.kept)
			if b.String() != tt.want {
				t.Errorf("got\n%s\nwant\n%s", b.String(), tt.want)
			}
		})
	}
}
