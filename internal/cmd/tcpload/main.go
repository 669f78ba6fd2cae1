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
//	tcpload dial -addr 127.0.0.1:9000[,...] -rate 300 [-conc 1] -duration 40s [-serve]
//	    open connections at a fixed rate, round robin over the addresses,
//	    closing each first, and print one JSON line a second:
//	    {"second":s,"ok":n,"eaddrnotavail":m,"other":k}.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: tcpload timewait|closewait|dial [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "timewait":
		err = timeWait(os.Args[2:])
	case "closewait":
		err = closeWait(os.Args[2:])
	case "dial":
		err = dial(os.Args[2:])
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
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
	var closed atomic.Int64
	for _, a := range targets {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			return err
		}
		defer ln.Close()
		go serveCloseOnEOF(ln, &closed, *delay)
	}
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
	fmt.Println("ready")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	return nil
}

// tick is one second of dial results.
type tick struct {
	Second        int `json:"second"`
	OK            int `json:"ok"`
	EAddrNotAvail int `json:"eaddrnotavail"`
	Other         int `json:"other"`
}

func dial(args []string) error {
	fs := flag.NewFlagSet("dial", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:9000", "comma-separated addresses to dial, round robin")
	rate := fs.Int("rate", 300, "connections per second")
	conc := fs.Int("conc", 1, "dialers, each at rate/conc")
	duration := fs.Duration("duration", 40*time.Second, "how long to dial")
	serve := fs.Bool("serve", false, "also serve the address")
	_ = fs.Parse(args)
	targets := strings.Split(*addr, ",")
	if *serve {
		var closed atomic.Int64
		for _, a := range targets {
			ln, err := net.Listen("tcp", a)
			if err != nil {
				return err
			}
			defer ln.Close()
			go serveCloseOnEOF(ln, &closed, 20*time.Millisecond)
		}
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
				c, err := net.DialTimeout("tcp", targets[n%len(targets)], time.Second)
				sec := min(int(time.Since(start)/time.Second), len(ticks)-1)
				mu.Lock()
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
