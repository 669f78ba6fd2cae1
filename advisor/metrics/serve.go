package metrics

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Path is where the endpoint serves the metrics.
const Path = "/metrics"

// Handler serves every family in the format the scraper asks for.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// MaxHeaderBytes bounds a scrape request's header: a scraper sends a few
// hundred bytes.
const MaxHeaderBytes = 8 << 10

// Listen opens addr (host:port) and serves Handler at Path from a
// goroutine until the returned server is closed. The socket is listening
// when Listen returns, so a busy or forbidden address is an error here.
//
// The endpoint speaks only what a scraper needs: HTTP/1.1 without TLS, GET
// and HEAD, headers up to MaxHeaderBytes. Any other method is answered 405,
// and an HTTP/2 connection preface is refused, so the server's HTTP/2,
// CONNECT and TLS code paths are never entered.
func (m *Metrics) Listen(addr string) (*http.Server, net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("--metrics-listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle(Path, m.Handler())
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, "tcp-advisor: metrics at %s\n", Path)
	})
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	srv := &http.Server{
		Handler:           onlyGet(mux),
		Protocols:         &protocols,
		MaxHeaderBytes:    MaxHeaderBytes,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			ln.Close()
		}
	}()
	return srv, ln.Addr(), nil
}

// onlyGet answers every method but GET and HEAD with 405 before h sees it.
func onlyGet(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "tcp-advisor: only GET and HEAD", http.StatusMethodNotAllowed)
			return
		}
		h.ServeHTTP(w, r)
	})
}
