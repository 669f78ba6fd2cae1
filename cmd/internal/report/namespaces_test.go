package report

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tcp-advisor/tcp-advisor/advisor/netns"
)

func TestSectionHeader(t *testing.T) {
	tests := []struct {
		name string
		ns   netns.Namespace
		want string
	}{
		{"bare", netns.Namespace{Name: "blue", Inode: 4026532001}, "=== network namespace blue (net:[4026532001])\n"},
		{"held by processes, three named", netns.Namespace{Name: "lb", Inode: 7, ProcessCount: 5, Processes: []netns.Process{
			{PID: 1, Command: "nginx", Unit: "nginx.service"}, {PID: 2, Command: "nginx"}, {PID: 3, Command: "curl"}, {PID: 4, Command: "sh"}}},
			"=== network namespace lb (net:[7]), held by nginx 1 nginx.service, nginx 2, curl 3, 5 processes in all\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SectionHeader(&tt.ns); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDumpedLine(t *testing.T) {
	blue, red := &netns.Namespace{Name: "blue"}, &netns.Namespace{Name: "red"}
	tests := []struct {
		name     string
		sections []Section
		want     string
	}{
		{"none", nil, "sockets dumped in 0 of 0 namespace(s)"},
		{"one of two", []Section{{Netns: blue, Precheck: &PrecheckSection{Dumped: true}}, {Netns: red, Precheck: &PrecheckSection{}}},
			"sockets dumped in 1 of 2 namespace(s): blue"},
		{"undecided is not dumped", []Section{{Netns: blue}}, "sockets dumped in 0 of 1 namespace(s)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DumpedLine(tt.sections); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestJoinNames(t *testing.T) {
	var twelve []string
	for i := range 12 {
		twelve = append(twelve, fmt.Sprint("ns", i))
	}
	tests := []struct {
		names []string
		want  string
	}{
		{nil, ""},
		{[]string{"a", "b"}, "a, b"},
		{twelve, strings.Join(twelve[:10], ", ") + " and 2 more"},
	}
	for _, tt := range tests {
		if got := JoinNames(tt.names); got != tt.want {
			t.Errorf("JoinNames(%q) = %q, want %q", tt.names, got, tt.want)
		}
	}
}
