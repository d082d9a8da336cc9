// Command lab-go is the real-stack lab's Go service: net/http + database/sql + github.com/lib/pq,
// written the way a typical Go service is written (no request time-outs, no pool acquisition
// time-out; the only deadline a query has is the request's own context).
//
//	lab-go -port P -host H -dsn postgres://... -pool-max N -query-ms MS \
//	       -behaviour db|fd-leak -pool-export none|go-prometheus|go-expvar|go-log-plusv|go-log-v|go-logfmt|go-json \
//	       -log-dir D
//
// Every path except /metrics and /debug/vars runs one query through the pool. Logs:
// <log-dir>/access.log (one line per finished request, with duration=...) and <log-dir>/app.log
// (errors, net/http's own errors, and the pool-stats lines of the go-log-* / go-logfmt / go-json
// exports). Prints {"event":"listening","pid":N} on stdout once the socket listens.
//
// Built by src/lab/stacks/go.ts offline in GOPATH mode against Debian's /usr/share/gocode.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"expvar"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	kitlog "github.com/go-kit/log"
	"github.com/go-kit/log/level"
	_ "github.com/lib/pq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

type config struct {
	port       int
	host       string
	dsn        string
	poolMax    int
	queryMs    int
	behaviour  string
	poolExport string
	logDir     string
	// queryContext "request" passes r.Context() to the query (the handler stops when its client
	// leaves); "none" uses context.Background(), as code written with db.Exec does.
	queryContext    string
	connMaxLifetime time.Duration
}

var exports = map[string]bool{
	"none": true, "go-prometheus": true, "go-expvar": true, "go-log-plusv": true,
	"go-log-v": true, "go-logfmt": true, "go-json": true,
}

func parseFlags() config {
	var c config
	flag.IntVar(&c.port, "port", 8080, "listen port")
	flag.StringVar(&c.host, "host", "127.0.0.1", "listen address")
	flag.StringVar(&c.dsn, "dsn", "", "PostgreSQL URL (lib/pq)")
	flag.IntVar(&c.poolMax, "pool-max", 10, "db.SetMaxOpenConns (0 = unlimited)")
	flag.IntVar(&c.queryMs, "query-ms", 100, "pg_sleep per request, ms")
	flag.StringVar(&c.behaviour, "behaviour", "db", "db | fd-leak")
	flag.StringVar(&c.poolExport, "pool-export", "none", "how pool statistics are published")
	flag.StringVar(&c.logDir, "log-dir", ".", "directory for access.log and app.log")
	flag.StringVar(&c.queryContext, "query-context", "request", "request | none")
	flag.DurationVar(&c.connMaxLifetime, "conn-max-lifetime", 0, "db.SetConnMaxLifetime (0 = forever)")
	flag.Parse()
	if c.dsn == "" {
		fmt.Fprintln(os.Stderr, "lab-go: -dsn is required")
		os.Exit(2)
	}
	if c.queryContext != "request" && c.queryContext != "none" {
		log.Fatalf("-query-context must be request or none, not %q", c.queryContext)
	}
	if c.behaviour != "db" && c.behaviour != "fd-leak" {
		fmt.Fprintf(os.Stderr, "lab-go: unknown -behaviour %q\n", c.behaviour)
		os.Exit(2)
	}
	if !exports[c.poolExport] {
		fmt.Fprintf(os.Stderr, "lab-go: unknown -pool-export %q\n", c.poolExport)
		os.Exit(2)
	}
	return c
}

// ---------------------------------------------------------------- app logging

// appLogger is how errors reach app.log: the standard log package for the plain modes, go-kit/log
// (logfmt) for go-logfmt, zap-style JSON for go-json.
type appLogger interface {
	Error(msg string, err error)
}

type stdAppLogger struct{}

func (stdAppLogger) Error(msg string, err error) { log.Printf("%s: %v", msg, err) }

type kitAppLogger struct{ l kitlog.Logger }

func (k kitAppLogger) Error(msg string, err error) { level.Error(k.l).Log("msg", msg, "err", err) }

func openLog(dir, name string) *os.File {
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		fmt.Fprintf(os.Stderr, "lab-go: %v\n", err)
		os.Exit(1)
	}
	return f
}

// ---------------------------------------------------------------- access log

type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += n
	return n, err
}

// accessLog is the usual hand-written middleware: one line per finished request, after the handler returns.
func accessLog(l *log.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		l.Printf("%s %s %s %s %d %d duration=%s", r.RemoteAddr, r.Method, r.URL.RequestURI(), r.Proto, rec.status, rec.bytes, time.Since(start))
	})
}

// ---------------------------------------------------------------- handlers

type service struct {
	cfg    config
	db     *sql.DB
	logger appLogger
	n      int64
	mu     sync.Mutex
	spool  []*os.File // fd-leak: kept referenced so the GC's finalizer never closes them
}

func (s *service) checkalive(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if s.cfg.queryContext == "none" {
		ctx = context.Background()
	}
	if s.cfg.behaviour == "fd-leak" {
		n := atomic.AddInt64(&s.n, 1)
		f, err := os.Create(filepath.Join(s.cfg.logDir, "spool", fmt.Sprintf("report-%d.json", n)))
		if err != nil {
			s.logger.Error("spool report", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(f, "{\"n\":%d,\"at\":%q,\"remote\":%q}\n", n, time.Now().UTC().Format(time.RFC3339Nano), r.RemoteAddr)
		s.mu.Lock()
		s.spool = append(s.spool, f) // never closed
		s.mu.Unlock()
		if _, err := s.db.ExecContext(ctx, "select 1"); err != nil {
			s.logger.Error("checkalive: query failed", err)
			http.Error(w, "db error", http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "ok")
		return
	}
	if _, err := s.db.ExecContext(ctx, "select pg_sleep($1)", float64(s.cfg.queryMs)/1000); err != nil {
		s.logger.Error("checkalive: query failed", err)
		http.Error(w, "db error", http.StatusInternalServerError)
		return
	}
	fmt.Fprintln(w, "ok")
}

// ---------------------------------------------------------------- pool-stats exports

func every(d time.Duration, f func()) {
	go func() {
		t := time.NewTicker(d)
		defer t.Stop()
		for range t.C {
			f()
		}
	}()
}

// zapLine imitates zap's production JSON encoder (level, ts as float epoch seconds, caller, msg,
// then fields in the order given).
func zapLine(lvl, caller, msg string, fields ...interface{}) []byte {
	var b []byte
	b = append(b, `{"level":`...)
	b = strconv.AppendQuote(b, lvl)
	b = append(b, `,"ts":`...)
	b = strconv.AppendFloat(b, float64(time.Now().UnixNano())/float64(time.Second), 'f', -1, 64)
	if caller != "" {
		b = append(b, `,"caller":`...)
		b, _ = appendJSON(b, caller)
	}
	b = append(b, `,"msg":`...)
	b, _ = appendJSON(b, msg)
	for i := 0; i+1 < len(fields); i += 2 {
		b = append(b, ',')
		b, _ = appendJSON(b, fields[i])
		b = append(b, ':')
		b, _ = appendJSON(b, fields[i+1])
	}
	return append(b, '}', '\n')
}

// caller is zap's short caller ("dir/file.go:line") of the function skip frames up.
func caller(skip int) string {
	_, file, line, ok := runtime.Caller(skip + 1)
	if !ok {
		return ""
	}
	return filepath.Base(filepath.Dir(file)) + "/" + filepath.Base(file) + ":" + strconv.Itoa(line)
}

func appendJSON(b []byte, v interface{}) ([]byte, error) {
	j, err := json.Marshal(v)
	if err != nil {
		j, _ = json.Marshal(err.Error())
	}
	return append(b, j...), err
}

// zapAppLogger: logger.Error(msg, zap.Error(err)) -> {"level":"error",...,"msg":...,"error":"..."}.
type zapAppLogger struct{ w *syncWriter }

func (z zapAppLogger) Error(msg string, err error) {
	z.w.Write(zapLine("error", caller(1), msg, "error", err.Error()))
}

type syncWriter struct {
	mu sync.Mutex
	f  *os.File
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f.Write(p)
}

// stdlibToZap is what zap.RedirectStdLog does: standard-log lines (net/http's "http: Accept error")
// become {"level":"info",...,"msg":"<line>"}.
type stdlibToZap struct{ w *syncWriter }

func (s stdlibToZap) Write(p []byte) (int, error) {
	msg := string(p)
	for len(msg) > 0 && msg[len(msg)-1] == '\n' {
		msg = msg[:len(msg)-1]
	}
	s.w.Write(zapLine("info", caller(3), msg))
	return len(p), nil
}

func main() {
	cfg := parseFlags()
	if err := os.MkdirAll(cfg.logDir, 0o755); err != nil {
		fmt.Fprintf(os.Stderr, "lab-go: %v\n", err)
		os.Exit(1)
	}
	if cfg.behaviour == "fd-leak" {
		if err := os.MkdirAll(filepath.Join(cfg.logDir, "spool"), 0o755); err != nil {
			fmt.Fprintf(os.Stderr, "lab-go: %v\n", err)
			os.Exit(1)
		}
	}
	appFile := openLog(cfg.logDir, "app.log")
	accessFile := openLog(cfg.logDir, "access.log")

	// The standard logger writes to app.log: our errors and net/http's own (Server.ErrorLog is nil).
	log.SetOutput(appFile)
	log.SetFlags(log.LstdFlags)
	if cfg.poolExport == "go-log-v" {
		log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	}
	var logger appLogger = stdAppLogger{}
	var kit kitlog.Logger
	var zw *syncWriter
	switch cfg.poolExport {
	case "go-logfmt":
		// go-kit/log, as its README sets it up.
		kit = kitlog.NewLogfmtLogger(kitlog.NewSyncWriter(appFile))
		kit = kitlog.With(kit, "ts", kitlog.DefaultTimestampUTC, "caller", kitlog.DefaultCaller)
		logger = kitAppLogger{kit}
		log.SetOutput(kitlog.NewStdlibAdapter(kit))
		log.SetFlags(0)
	case "go-json":
		zw = &syncWriter{f: appFile}
		logger = zapAppLogger{zw}
		log.SetOutput(stdlibToZap{zw})
		log.SetFlags(0)
	}
	access := log.New(accessFile, "", log.LstdFlags)

	db, err := sql.Open("postgres", cfg.dsn)
	if err != nil {
		log.Fatalf("sql.Open: %v", err)
	}
	db.SetMaxOpenConns(cfg.poolMax)
	db.SetConnMaxLifetime(cfg.connMaxLifetime)
	if err := db.Ping(); err != nil {
		log.Fatalf("db.Ping: %v", err)
	}

	s := &service{cfg: cfg, db: db, logger: logger}
	mux := http.NewServeMux()
	mux.HandleFunc("/", s.checkalive)

	switch cfg.poolExport {
	case "go-prometheus":
		prometheus.MustRegister(collectors.NewDBStatsCollector(db, "lab"))
		mux.Handle("/metrics", promhttp.Handler())
	case "go-expvar":
		expvar.Publish("dbstats", expvar.Func(func() interface{} { return db.Stats() }))
		mux.Handle("/debug/vars", expvar.Handler())
	case "go-log-plusv", "go-log-v":
		format := "db stats: %+v"
		if cfg.poolExport == "go-log-v" {
			format = "db stats: %v"
		}
		every(time.Second, func() { log.Printf(format, db.Stats()) })
	case "go-logfmt":
		every(time.Second, func() {
			st := db.Stats()
			level.Info(kit).Log(
				"msg", "db stats",
				"max_open_connections", st.MaxOpenConnections,
				"open_connections", st.OpenConnections,
				"in_use", st.InUse,
				"idle", st.Idle,
				"wait_count", st.WaitCount,
				"wait_duration", st.WaitDuration,
				"max_idle_closed", st.MaxIdleClosed,
				"max_idle_time_closed", st.MaxIdleTimeClosed,
				"max_lifetime_closed", st.MaxLifetimeClosed,
			)
		})
	case "go-json":
		// logger.Info("db stats", zap.Any("stats", db.Stats())): the struct as encoding/json marshals it.
		every(time.Second, func() { zw.Write(zapLine("info", caller(0), "db stats", "stats", db.Stats())) })
	}
	if cfg.poolExport != "go-prometheus" {
		mux.Handle("/metrics", http.NotFoundHandler())
	}
	if cfg.poolExport != "go-expvar" {
		mux.Handle("/debug/vars", http.NotFoundHandler())
	}

	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.host, strconv.Itoa(cfg.port)))
	if err != nil {
		log.Fatalf("listen: %v", err)
	}
	fmt.Printf("{\"event\":\"listening\",\"pid\":%d}\n", os.Getpid())
	srv := &http.Server{Handler: accessLog(access, mux)}
	log.Fatal(srv.Serve(ln))
}
