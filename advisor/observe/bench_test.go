package observe

import (
	"net"
	"os"
	"testing"
)

// BenchmarkQuietTick times the agent's common case: the pre-check rules
// exhaustion out, so a tick reads sysctls and counters and dumps nothing. `make bench` runs it in a fresh network
// namespace (unshare --net) holding a few listeners and TIME_WAIT sockets.
func BenchmarkQuietTick(b *testing.B) {
	if os.Getenv("TCP_ADVISOR_BENCH_NETNS") != "1" {
		b.Skip("run through `make bench`, which gives it a scratch network namespace")
	}
	for range 4 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		for range 50 {
			if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
				c.Close()
			}
		}
	}
	o := New("/proc", "/proc/sys")
	b.ReportAllocs()
	for b.Loop() {
		s, err := o.Observe(Quiet)
		if err != nil {
			b.Fatal(err)
		}
		if s.Sockets != nil || s.Counters.TCPInUse < 4 {
			b.Fatalf("not a quiet tick: dumped=%v, %d sockets in use (want the 4 listeners at least)", s.Sockets != nil, s.Counters.TCPInUse)
		}
	}
}
