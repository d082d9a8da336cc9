/**
 * Real-stack lab: services written the way their communities write them (Go database/sql + lib/pq,
 * Java HikariCP + JDBC, Node pg.Pool), each against a real PostgreSQL, so the diagnosis is checked
 * against how real runtimes, pools and exporters behave.
 */

export type StackId = 'go' | 'java' | 'node';

/** What a request handler does. */
export type StackBehaviour =
  /** one query (`select pg_sleep(queryMs/1000)`) through the pool, then 200 */
  | 'db'
  /** opens a new file under `<logDir>/spool/report-<n>.json` per request and never closes it, then a fast query */
  | 'fd-leak';

/** How the service publishes its pool statistics; each runtime supports the subset it names. */
export type PoolExport =
  /** no pool statistics anywhere (no metrics endpoint, no pool-stats log lines) */
  | 'none'
  /** Go: client_golang collectors.NewDBStatsCollector on /metrics */
  | 'go-prometheus'
  /** Go: expvar.Publish of db.Stats() on /debug/vars */
  | 'go-expvar'
  /** Go: log.Printf("db stats: %+v", db.Stats()) every second, standard log prefix */
  | 'go-log-plusv'
  /** Go: log.Printf("db stats: %v", db.Stats()) every second, standard log prefix with microseconds */
  | 'go-log-v'
  /** Go: logfmt line with DBStats fields every second */
  | 'go-logfmt'
  /** Go: JSON (log/slog-style or zap-style) line with DBStats fields every second */
  | 'go-json'
  /** Java: Micrometer's hikaricp_* names at /actuator/prometheus */
  | 'java-actuator'
  /** Java: Micrometer's hikaricp_* names at /metrics */
  | 'java-metrics'
  /** Java: HikariCP's own DEBUG "Pool stats (total=, active=, idle=, waiting=)" log lines */
  | 'java-log'
  /** Node: @christiangalsterer/node-postgres-prometheus-exporter on /metrics */
  | 'node-exporter'
  /** Node: prom-client gauges named after pg.Pool's totalCount/idleCount/waitingCount on /metrics */
  | 'node-prom-client';

export interface StackServiceSpec {
  port: number;
  host: string;
  /** libpq-style URL, e.g. postgres://triage@127.0.0.1:54321/lab */
  dsn: string;
  poolMax: number;
  /** how long one query holds its connection (pg_sleep), ms */
  queryMs: number;
  behaviour: StackBehaviour;
  poolExport: PoolExport;
  /** the service writes its logs here (access log and app log as files, not only stdout) */
  logDir: string;
  /**
   * Go only: `request` hands the request's context to the query (the handler stops when its client
   * leaves), `none` uses context.Background() as code written with `db.Exec` does. Default `request`.
   */
  queryContext?: 'request' | 'none';
  /** Go only: db.SetConnMaxLifetime in ms, so connections are re-dialled (0 or absent: never). */
  connMaxLifetimeMs?: number;
}

/** One runtime: how to build it once and how to start it. */
export interface StackRuntime {
  id: StackId;
  /** Pool exports this runtime implements. */
  exports: readonly PoolExport[];
  /** Debian packages the build and run need (for scripts/test-prereqs.mjs and the error message). */
  debianPackages: readonly string[];
  /** Builds (or reuses a cached build) and returns a directory for `command`. Throws a one-line error naming what to install. */
  build(signal?: AbortSignal): Promise<string>;
  /** The argv that starts the service (no shell); it must print `{"event":"listening","pid":N}` on stdout once it listens. */
  command(spec: StackServiceSpec, buildDir: string): { argv: string[] };
}
