// Package demo is chaoslab's built-in demo service: a small HTTP service
// that calls a downstream dependency on every request, and the downstream
// dependency itself. It gives experiments something realistic to break
// without any setup.
//
// The service answers:
//
//	GET /        calls GET http://<downstream>/ and answers 200 with
//	             {"ok":true,"downstream_ms":1.23}, or 502 when the
//	             downstream call fails or answers 5xx
//	GET /health  answers 200 with {"ok":true,"pid":1234} (the pid of the
//	             process serving) without calling the downstream
//
// It writes one log line at startup and one line (level ERROR) per failed
// request.
package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"
)

// Config configures Serve.
type Config struct {
	// Addr is the host:port to listen on. Default "127.0.0.1:0".
	Addr string
	// Downstream is the dependency's host:port. Required.
	Downstream string
	// LogWriter receives the service's log lines. Default: discarded.
	LogWriter io.Writer
	// Listener, when set, is served instead of listening on Addr. Serve
	// closes it.
	Listener net.Listener
}

// DownstreamTimeout bounds each call to the downstream.
const DownstreamTimeout = 5 * time.Second

// shutdownGrace bounds how long Serve waits for requests in flight once its
// context is done.
const shutdownGrace = 2 * time.Second

// Serve runs the demo service until ctx is done, then shuts it down and
// returns nil. It returns an error if it cannot listen or serve.
func Serve(ctx context.Context, cfg Config) error {
	if cfg.Downstream == "" {
		if cfg.Listener != nil {
			cfg.Listener.Close()
		}
		return errors.New("demo: Config.Downstream is required")
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	w := cfg.LogWriter
	if w == nil {
		w = io.Discard
	}
	log := slog.New(slog.NewTextHandler(w, nil))

	ln := cfg.Listener
	if ln == nil {
		var lc net.ListenConfig
		var err error
		if ln, err = lc.Listen(ctx, "tcp", cfg.Addr); err != nil {
			return fmt.Errorf("demo: listen: %w", err)
		}
	}
	transport := &http.Transport{
		Proxy:               nil, // never send the downstream call to an HTTP proxy from the environment
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     30 * time.Second,
	}
	defer transport.CloseIdleConnections()
	s := &service{
		downstream: "http://" + cfg.Downstream + "/",
		client:     &http.Client{Transport: transport, Timeout: DownstreamTimeout},
		log:        log,
	}
	srv := &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("demo service listening", "addr", ln.Addr().String(), "downstream", cfg.Downstream)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("demo: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	<-errc // http.ErrServerClosed
	log.Info("demo service stopped")
	return nil
}

type service struct {
	downstream string
	client     *http.Client
	log        *slog.Logger
}

func (s *service) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "pid": os.Getpid()})
	})
	mux.HandleFunc("GET /{$}", s.root)
	return mux
}

func (s *service) root(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	err := s.callDownstream(r.Context())
	ms := float64(time.Since(start).Microseconds()) / 1000
	if err != nil {
		s.log.Error("downstream call failed", "err", err, "downstream_ms", ms)
		writeJSON(w, http.StatusBadGateway, map[string]any{"ok": false, "error": err.Error(), "downstream_ms": ms})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "downstream_ms": ms})
}

func (s *service) callDownstream(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.downstream, nil)
	if err != nil {
		return err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	// Drain (a little) so the connection is kept alive.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 500 {
		return fmt.Errorf("downstream answered %s", resp.Status)
	}
	return nil
}

// Downstream is the demo service's dependency: an http.Handler that answers
// every request at once with a small JSON body. Its zero value is ready to
// use.
type Downstream struct{}

// ServeHTTP answers {"ok":true,"service":"downstream"}.
func (Downstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "service": "downstream"})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
