package observe

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/tcp-advisor/tcp-advisor/advisor"
)

// The fuzz targets of the /proc parsers. Seeds are the fixtures and the
// corpus under testdata/fuzz; `make fuzz` runs each for a bounded count.

func FuzzParseProcNetTCP(f *testing.F) {
	for _, name := range []string{"tcp", "tcp6"} {
		b, err := os.ReadFile("testdata/proc/net/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		agg := newAggregator(allStates, DumpConfig{Range: advisor.PortRange{Low: 1024, High: 65535}})
		n := 0
		_ = parseProcNetTCP(bytes.NewReader(data), func(m diagMsg) bool {
			n++
			if !m.Local.IsValid() || !m.Remote.IsValid() {
				t.Fatalf("invalid address in %+v", m)
			}
			agg.add(m)
			return true
		})
		if total := agg.sum.States.Total(); total > n {
			t.Fatalf("%d sockets counted from %d lines", total, n)
		}
	})
}

// FuzzReadCounters feeds sockstat, snmp and netstat files through
// ReadCounters over a scratch /proc: never a panic, and counters it
// accepts are counts (not negative, finite), the same on a second read.
func FuzzReadCounters(f *testing.F) {
	read := func(p string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata/proc", p))
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	f.Add(read("net/sockstat"), read("1/net/snmp"), read("1/net/netstat"))
	f.Add([]byte("TCP: inuse"), []byte("Tcp: ActiveOpens\nTcp: 1"), []byte("TcpExt:\n"))
	f.Add([]byte("TCP: inuse -1 orphan 0 tw 0 alloc 0 mem 0\n"), read("1/net/snmp"), read("1/net/netstat"))
	f.Fuzz(func(t *testing.T, sockstat, snmp, netstat []byte) {
		root := scratchProc(t, sockstat, snmp, netstat)
		c, err := ReadCounters(root)
		if err != nil {
			return
		}
		v := reflect.ValueOf(c)
		for i := range v.NumField() {
			var n float64
			switch f := v.Field(i); f.Kind() {
			case reflect.Int:
				n = float64(f.Int())
			case reflect.Float64:
				n = f.Float()
			default:
				t.Fatalf("Counters.%s is a %s: teach the fuzz target its bounds", v.Type().Field(i).Name, f.Kind())
			}
			if n < 0 || math.IsNaN(n) || math.IsInf(n, 0) {
				t.Errorf("accepted Counters.%s = %v: not a count", v.Type().Field(i).Name, n)
			}
		}
		if again, err := ReadCounters(root); err != nil || again != c {
			t.Errorf("second read %+v, %v; first %+v", again, err, c)
		}
	})
}

// FuzzOwner resolves a socket's owner from arbitrary stat, comm and cgroup
// files: never a panic, always the pid.
func FuzzOwner(f *testing.F) {
	f.Add([]byte("42 (nginx) S 1 42 42 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 100 0 0"), []byte("nginx\n"), []byte("0::/system.slice/nginx.service\n"))
	f.Add([]byte("42 (a) b) S"), []byte("ev\n\x1b[2J\xff"), []byte("1:name=systemd:/\n0::"))
	f.Fuzz(func(t *testing.T, stat, comm, cgroup []byte) {
		root := t.TempDir()
		dir := filepath.Join(root, "42")
		os.MkdirAll(filepath.Join(dir, "fd"), 0o755)
		os.WriteFile(filepath.Join(dir, "stat"), stat, 0o644)
		os.WriteFile(filepath.Join(dir, "comm"), comm, 0o644)
		os.WriteFile(filepath.Join(dir, "cgroup"), cgroup, 0o644)
		os.Symlink("socket:[77]", filepath.Join(dir, "fd", "3"))
		socks := []advisor.DetailedSocket{{Inode: 77}}
		NewOwnerResolver(root).Resolve(socks)
		if o := socks[0].Owner; o == nil || o.PID != 42 {
			t.Fatalf("owner = %+v", o)
		}
	})
}
