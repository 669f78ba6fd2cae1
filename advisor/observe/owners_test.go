package observe

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tcp-advisor/tcp-advisor/advisor"
)

func TestParseSocketLink(t *testing.T) {
	tests := []struct {
		in   string
		ino  uint32
		isOK bool
	}{
		{"socket:[12345]", 12345, true},
		{"socket:[]", 0, false},
		{"pipe:[12345]", 0, false},
		{"/dev/null", 0, false},
		{"socket:[99999999999]", 0, false},
	}
	for _, tt := range tests {
		ino, ok := parseSocketLink(tt.in)
		if ino != tt.ino || ok != tt.isOK {
			t.Errorf("parseSocketLink(%q) = %d, %v; want %d, %v", tt.in, ino, ok, tt.ino, tt.isOK)
		}
	}
}

// fakeProc writes /proc/<pid> for a process holding socket:[ino] on fd 3;
// comm and cgroup are left out when nil.
func fakeProc(t *testing.T, root string, pid int, start int, comm, cgroup *string, ino int) {
	t.Helper()
	dir := filepath.Join(root, strconv.Itoa(pid))
	os.MkdirAll(filepath.Join(dir, "fd"), 0o755)
	fields := make([]string, 50)
	for i := range fields {
		fields[i] = "0"
	}
	fields[0] = "S"
	fields[19] = strconv.Itoa(start) // field 22 of the line: starttime
	os.WriteFile(filepath.Join(dir, "stat"), []byte(fmt.Sprintf("%d (x) %s\n", pid, strings.Join(fields, " "))), 0o644)
	if comm != nil {
		os.WriteFile(filepath.Join(dir, "comm"), []byte(*comm), 0o644)
	}
	if cgroup != nil {
		os.WriteFile(filepath.Join(dir, "cgroup"), []byte(*cgroup), 0o644)
	}
	os.Remove(filepath.Join(dir, "fd", "3"))
	if err := os.Symlink(fmt.Sprintf("socket:[%d]", ino), filepath.Join(dir, "fd", "3")); err != nil {
		t.Fatal(err)
	}
}

func ptr(s string) *string { return &s }

// TestOwnerPartial: whatever happens to the process between the fd scan
// and the reads of its files, Resolve neither fails nor names the wrong
// process: what it cannot vouch for is left out and the owner marked
// partial.
func TestOwnerPartial(t *testing.T) {
	const pid, ino = 4242, 777
	nginxCG := "0::/system.slice/nginx.service\n"
	tests := []struct {
		name    string
		comm    *string
		cgroup  *string
		between func(root string)
		want    advisor.Owner
	}{
		{"whole", ptr("nginx\n"), &nginxCG, nil, advisor.Owner{PID: pid, Command: "nginx", Unit: "nginx.service"}},
		{"hostile name kept as it is", ptr("ev\x1b[31mil\n\xff\n"), &nginxCG, nil, advisor.Owner{PID: pid, Command: "ev\x1b[31mil\n\xff", Unit: "nginx.service"}},
		{"comm missing", nil, &nginxCG, nil, advisor.Owner{PID: pid, Unit: "nginx.service", Partial: true}},
		{"comm empty", ptr(""), &nginxCG, nil, advisor.Owner{PID: pid, Unit: "nginx.service", Partial: true}},
		{"cgroup missing", ptr("nginx\n"), nil, nil, advisor.Owner{PID: pid, Command: "nginx", Partial: true}},
		{"exits after the scan", ptr("nginx\n"), &nginxCG, func(root string) {
			os.RemoveAll(filepath.Join(root, strconv.Itoa(pid)))
		}, advisor.Owner{PID: pid, Partial: true}},
		{"pid reused after the scan", ptr("nginx\n"), &nginxCG, func(root string) {
			fakeProc(t, root, pid, 999, ptr("sshd\n"), ptr("0::/system.slice/ssh.service\n"), 888)
		}, advisor.Owner{PID: pid, Partial: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			fakeProc(t, root, pid, 100, tt.comm, tt.cgroup, ino)
			if tt.between != nil {
				betweenScanAndRead = func(int) { tt.between(root) }
				t.Cleanup(func() { betweenScanAndRead = func(int) {} })
			}
			socks := []advisor.DetailedSocket{{Inode: ino}}
			NewOwnerResolver(root).Resolve(socks)
			if socks[0].Owner == nil || *socks[0].Owner != tt.want {
				t.Errorf("owner = %+v, want %+v", socks[0].Owner, tt.want)
			}
		})
	}
}
