// Command tcpload makes real TCP socket states on loopback for tcp-advisor's
// kernel tests and benchmarks. Run it inside a scratch network namespace.
//
//	tcpload timewait -addr 127.0.0.1:9000[,127.0.0.1:9001...] -n 900 [-bind]
//	    serve each address, open n connections spread over them and close
//	    each from the client side first: n client sockets end in TIME_WAIT.
//	    With -bind each client binds to port 0 before connecting.
//	tcpload closewait -addr 127.0.0.1:9100 -n 300
//	    serve the address and never close accepted connections; open n and
//	    close them from the client: n server sockets stay in CLOSE_WAIT
//	    until tcpload is killed. Prints "ready" when all are in place.
//	tcpload dial -addr 127.0.0.1:9000[,...] -rate 300 [-conc 1] -duration 40s [-serve] [-port-range 40000-40009]
//	    open connections at a fixed rate, round robin over the addresses,
//	    closing each first, and print one JSON line a second:
//	    {"second":s,"ok":n,"eaddrnotavail":m,"other":k}. -port-range sets
//	    each socket's own IP_LOCAL_PORT_RANGE (Linux 6.3): a few ports
//	    held fill it while the namespace's range stays wide.
//	tcpload serve -addr 10.99.0.2:9000[,...]
//	    serve the addresses, closing each connection once the client has;
//	    prints "ready" and runs until killed (a backend in another
//	    namespace).
//	tcpload http -addr 127.0.0.1:9000 -delay 100ms
//	    an HTTP backend: answers each request with a 2-byte body after the
//	    delay and closes only once the client has (so a proxy that does not
//	    keep upstream connections alive closes first and keeps the
//	    TIME_WAIT); prints "ready" and runs until killed.
//	tcpload http-load -addr 127.0.0.1:8080 -rate 200 -conns 40 -duration 20s
//	    send GET requests at the rate over conns kept-alive connections;
//	    prints "ok N errors M" at the end.
//	tcpload udp -addr 127.0.0.1:41500[,...]
//	    bind UDP sockets to the addresses (a UDP service); prints "ready"
//	    and holds them until killed.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// modes are tcpload's subcommands by name.
var modes = map[string]func(args []string) error{
	"timewait":  timeWait,
	"closewait": closeWait,
	"dial":      dial,
	"serve":     serve,
	"udp":       udp,
	"http":      httpBackend,
	"http-load": httpLoad,
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintf(os.Stderr, "usage: tcpload %s [flags]\n", strings.Join(slices.Sorted(maps.Keys(modes)), "|"))
		os.Exit(2)
	}
	err := fmt.Errorf("unknown mode %q", os.Args[1])
	if mode, ok := modes[os.Args[1]]; ok {
		err = mode(os.Args[2:])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tcpload:", err)
		os.Exit(1)
	}
}

// serveCloseOnEOF accepts connections and closes each once the client has
// closed, so the client's socket moves on from FIN_WAIT2 to TIME_WAIT. The
// close waits a moment: on loopback a FIN that arrives while the client's
// orphaned socket is being turned into a timewait sock can be answered with
// a RST, which kills the TIME_WAIT entry the test wants to see.
func serveCloseOnEOF(ln net.Listener, closed *atomic.Int64, delay time.Duration) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			_, _ = io.Copy(io.Discard, c)
			time.Sleep(delay)
			c.Close()
			closed.Add(1)
		}()
	}
}

// serveAll listens on each address and serves it with serveCloseOnEOF. It
// returns the count of connections closed so far and a function that closes
// the listeners; on an error the ones already open are closed.
func serveAll(addrs []string, delay time.Duration) (*atomic.Int64, func(), error) {
	closed := new(atomic.Int64)
	var lns []net.Listener
	stop := func() {
		for _, ln := range lns {
			ln.Close()
		}
	}
	for _, a := range addrs {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			stop()
			return nil, nil, err
		}
		lns = append(lns, ln)
		go serveCloseOnEOF(ln, closed, delay)
	}
	return closed, stop, nil
}

func timeWait(args []string) error {
	fs := flag.NewFlagSet("timewait", flag.ExitOnError)
	addrs := fs.String("addr", "127.0.0.1:9000", "comma-separated addresses to serve and dial")
	n := fs.Int("n", 900, "connections in all")
	conc := fs.Int("conc", 32, "connections in flight")
	delay := fs.Duration("close-delay", 20*time.Millisecond, "how long the server waits before closing")
	bind := fs.Bool("bind", false, "bind() each client socket to port 0 before connect(), as many clients do")
	_ = fs.Parse(args)
	var dialer net.Dialer
	if *bind {
		// Go binds a socket with a local address before connecting it,
		// without IP_BIND_ADDRESS_NO_PORT: the port is taken for every
		// destination.
		dialer.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}
	}
	targets := strings.Split(*addrs, ",")
	closed, stop, err := serveAll(targets, *delay)
	if err != nil {
		return err
	}
	defer stop()
	jobs := make(chan string)
	var failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for range *conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for a := range jobs {
				c, err := dialer.Dial("tcp", a)
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				c.Close()
			}
		}()
	}
	for i := range *n {
		jobs <- targets[i%len(targets)]
	}
	close(jobs)
	wg.Wait()
	ok := int64(*n) - failed.Load()
	deadline := time.Now().Add(30 * time.Second)
	for closed.Load() < ok && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if failed.Load() > 0 {
		return fmt.Errorf("%d of %d connections failed, first: %v", failed.Load(), *n, firstErr.Load())
	}
	fmt.Printf("done %d\n", ok)
	return nil
}

func closeWait(args []string) error {
	fs := flag.NewFlagSet("closewait", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:9100", "address to serve")
	n := fs.Int("n", 300, "connections to leave in CLOSE_WAIT")
	_ = fs.Parse(args)
	// No keep-alive on the accepted connections (Go turns it on by
	// default): once a client's orphaned FIN_WAIT2 socket is gone, a probe
	// would draw a RST and end the CLOSE_WAIT socket, which a leaking
	// application without keep-alive keeps forever.
	ln, err := (&net.ListenConfig{KeepAlive: -1}).Listen(context.Background(), "tcp", *addr)
	if err != nil {
		return err
	}
	held := make(chan net.Conn, *n)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held <- c // never closed: the leak under test
		}
	}()
	for range *n {
		c, err := net.Dial("tcp", *addr)
		if err != nil {
			return err
		}
		c.Close()
	}
	for len(held) < *n {
		time.Sleep(5 * time.Millisecond)
	}
	return readyUntilSignal()
}

// tick is one second of dial results: the dials by outcome, and the
// connect() calls they made (Go's dialer makes a fresh socket and calls
// connect() again, twice, when one fails with EADDRNOTAVAIL).
type tick struct {
	Second        int `json:"second"`
	OK            int `json:"ok"`
	EAddrNotAvail int `json:"eaddrnotavail"`
	Other         int `json:"other"`
	Calls         int `json:"connect_calls"`
}

func dial(args []string) error {
	fs := flag.NewFlagSet("dial", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:9000", "comma-separated addresses to dial, round robin")
	rate := fs.Int("rate", 300, "connections per second")
	conc := fs.Int("conc", 1, "dialers, each at rate/conc")
	duration := fs.Duration("duration", 40*time.Second, "how long to dial")
	serve := fs.Bool("serve", false, "also serve the address")
	portRange := fs.String("port-range", "", "LO-HI: each socket's own local port range (IP_LOCAL_PORT_RANGE)")
	_ = fs.Parse(args)
	dialer, err := rangeDialer(*portRange)
	if err != nil {
		return err
	}
	targets := strings.Split(*addr, ",")
	if *serve {
		_, stop, err := serveAll(targets, 20*time.Millisecond)
		if err != nil {
			return err
		}
		defer stop()
	}
	ticks := make([]tick, int(*duration/time.Second)+1)
	for i := range ticks {
		ticks[i].Second = i
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	interval := time.Second * time.Duration(*conc) / time.Duration(*rate)
	for w := range *conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			next := start.Add(interval * time.Duration(w) / time.Duration(*conc))
			for n := w; time.Since(start) < *duration; n++ {
				calls := 0
				c, err := countingDialer(dialer, &calls).Dial("tcp", targets[n%len(targets)])
				sec := min(int(time.Since(start)/time.Second), len(ticks)-1)
				mu.Lock()
				ticks[sec].Calls += calls
				switch {
				case err == nil:
					ticks[sec].OK++
					c.Close()
				case errors.Is(err, syscall.EADDRNOTAVAIL):
					ticks[sec].EAddrNotAvail++
				default:
					ticks[sec].Other++
				}
				mu.Unlock()
				next = next.Add(interval)
				if d := time.Until(next); d > 0 {
					time.Sleep(d)
				}
			}
		}()
	}
	wg.Wait()
	enc := json.NewEncoder(os.Stdout)
	for _, tk := range ticks {
		if tk.Second*int(time.Second) >= int(*duration) && tk.OK+tk.EAddrNotAvail+tk.Other == 0 {
			break
		}
		if err := enc.Encode(tk); err != nil {
			return err
		}
	}
	return nil
}

// countingDialer returns a copy of d that counts in *calls the sockets it
// makes: the dialer calls Control once per socket, before its connect().
func countingDialer(d *net.Dialer, calls *int) *net.Dialer {
	c := *d
	c.Control = func(network, address string, raw syscall.RawConn) error {
		*calls++
		if d.Control == nil {
			return nil
		}
		return d.Control(network, address, raw)
	}
	return &c
}

// rangeDialer returns a dialer with a one-second timeout whose sockets
// take their local port from lohi ("LO-HI") alone, or from the
// namespace's range when lohi is empty.
func rangeDialer(lohi string) (*net.Dialer, error) {
	d := &net.Dialer{Timeout: time.Second}
	if lohi == "" {
		return d, nil
	}
	var lo, hi uint16
	if _, err := fmt.Sscanf(lohi, "%d-%d", &lo, &hi); err != nil || lo == 0 || hi < lo {
		return nil, fmt.Errorf("-port-range %q: want LO-HI", lohi)
	}
	d.Control = func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_LOCAL_PORT_RANGE, int(uint32(hi)<<16|uint32(lo)))
		})
		return errors.Join(err, serr)
	}
	return d, nil
}

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	addrs := fs.String("addr", "127.0.0.1:9000", "comma-separated addresses to serve")
	_ = fs.Parse(args)
	_, stop, err := serveAll(strings.Split(*addrs, ","), 20*time.Millisecond)
	if err != nil {
		return err
	}
	defer stop()
	return readyUntilSignal()
}

func udp(args []string) error {
	fs := flag.NewFlagSet("udp", flag.ExitOnError)
	addrs := fs.String("addr", "127.0.0.1:41500", "comma-separated addresses to bind")
	_ = fs.Parse(args)
	for _, a := range strings.Split(*addrs, ",") {
		c, err := net.ListenPacket("udp", a)
		if err != nil {
			return err
		}
		defer c.Close()
	}
	return readyUntilSignal()
}

// readyUntilSignal prints "ready" and waits for SIGTERM or SIGINT.
func readyUntilSignal() error {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	fmt.Println("ready")
	<-sig
	return nil
}

func httpBackend(args []string) error {
	fs := flag.NewFlagSet("http", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:9000", "address to serve")
	delay := fs.Duration("delay", 100*time.Millisecond, "time before each answer")
	_ = fs.Parse(args)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					// Read one request's header.
					for {
						line, err := r.ReadString('\n')
						if err != nil {
							return // the client closed: close too
						}
						if line == "\r\n" || line == "\n" {
							break
						}
					}
					time.Sleep(*delay)
					if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"); err != nil {
						return
					}
				}
			}()
		}
	}()
	return readyUntilSignal()
}

func httpLoad(args []string) error {
	fs := flag.NewFlagSet("http-load", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "address of the server")
	rate := fs.Int("rate", 200, "requests per second")
	conns := fs.Int("conns", 40, "kept-alive connections")
	duration := fs.Duration("duration", 20*time.Second, "how long to send")
	_ = fs.Parse(args)
	var ok, failed atomic.Int64
	tokens := make(chan struct{}, *rate)
	stop := time.Now().Add(*duration)
	go func() {
		t := time.NewTicker(time.Second / time.Duration(*rate))
		defer t.Stop()
		for range t.C {
			if time.Now().After(stop) {
				close(tokens)
				return
			}
			select {
			case tokens <- struct{}{}:
			default:
			}
		}
	}()
	var wg sync.WaitGroup
	for range *conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var c net.Conn
			var r *bufio.Reader
			for range tokens {
				if c == nil {
					var err error
					if c, err = net.DialTimeout("tcp", *addr, time.Second); err != nil {
						failed.Add(1)
						continue
					}
					r = bufio.NewReader(c)
				}
				c.SetDeadline(time.Now().Add(5 * time.Second))
				status, err := httpGet(c, r)
				switch {
				case err != nil:
					// The connection is broken: dial again.
					failed.Add(1)
					c.Close()
					c = nil
				case status != 200:
					// An error answer (a proxy's 502) keeps the connection.
					failed.Add(1)
				default:
					ok.Add(1)
				}
			}
			if c != nil {
				c.Close()
			}
		}()
	}
	wg.Wait()
	fmt.Printf("ok %d errors %d\n", ok.Load(), failed.Load())
	return nil
}

// httpGet sends one GET and reads a response with a Content-Length body,
// returning its status code.
func httpGet(c net.Conn, r *bufio.Reader) (int, error) {
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: tcpload\r\n\r\n"); err != nil {
		return 0, err
	}
	line, err := r.ReadString('\n')
	if err != nil {
		return 0, err
	}
	var status int
	if f := strings.Fields(line); len(f) >= 2 {
		status, _ = strconv.Atoi(f[1])
	}
	length := 0
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return 0, err
		}
		if line == "\r\n" {
			break
		}
		if k, v, found := strings.Cut(line, ":"); found && strings.EqualFold(k, "Content-Length") {
			length, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	if _, err := io.CopyN(io.Discard, r, int64(length)); err != nil {
		return 0, err
	}
	return status, nil
}
