/**
 * The typed facts the steps measure. Rules and renderers read these, never raw command output.
 * Units are in the names: `Ms` milliseconds, `Sec` seconds, counts are plain numbers.
 */

/** What a client sees when it talks to the service (DESIGN.md symptom kinds). */
export const SYMPTOM_KINDS = ['refused', 'connect-timeout', 'reset', 'empty-reply', 'read-timeout', 'http-error', 'ok'] as const;
export type SymptomKind = (typeof SYMPTOM_KINDS)[number];

export interface ProbeAttempt {
  outcome: SymptomKind;
  /** Time until the TCP handshake completed; absent when it never did. */
  connectMs?: number;
  /** Time from sending the request until the first response byte; absent when none came. */
  firstByteMs?: number;
  totalMs: number;
  httpStatus?: number;
  /** errno code or short reason, e.g. `ECONNRESET`. */
  error?: string;
}

export interface ProbeFacts {
  url: string;
  attempts: ProbeAttempt[];
  counts: Partial<Record<SymptomKind, number>>;
  /** The most frequent failing outcome, or `ok` when every attempt succeeded. */
  symptom: SymptomKind;
}

export interface ProcessFacts {
  pid: number;
  user: string;
  command: string;
  /** ISO 8601, from the host's clock. */
  startedAt: string;
  uptimeSec: number;
  /** Other PIDs listening on the same port (e.g. pre-fork workers). */
  otherPids: number[];
}

export interface FdKindCounts {
  socket: number;
  pipe: number;
  anon_inode: number;
  file: number;
  other: number;
}

export interface FdFacts {
  open: number;
  /** `stat` of /proc/PID/fd (kernel >= 6.2) or a listing. */
  countMethod: 'stat' | 'listing';
  softLimit: number | null;
  hardLimit: number | null;
  /** open / softLimit, 0..1 (may exceed 1 briefly); null without a limit. */
  usedRatio: number | null;
  byKind: FdKindCounts;
  topFiles: { path: string; count: number }[];
  host: { allocated: number; max: number } | null;
  /** Change of `open` per second between the first and last sample. */
  growthPerSec?: number;
  /** Change of socket descriptors per second between the first and last sample (load moves these). */
  socketGrowthPerSec?: number;
  /** Change of file, pipe, anon-inode and other descriptors per second between the first and last sample. */
  nonSocketGrowthPerSec?: number;
  /**
   * Open files grouped by directory and name pattern (digits, hex runs and UUIDs collapsed to `*`),
   * most descriptors first: `count` descriptors on `distinct` paths.
   */
  fileGroups?: { pattern: string; count: number; distinct: number }[];
}

export interface TcpFacts {
  port: number;
  /** Sockets whose local port is the service port, by state name as ss prints it (`ESTAB`, `CLOSE-WAIT`, ...). */
  byState: Record<string, number>;
  closeWait: {
    total: number;
    /** Held by the process as descriptors: accepted, never closed. */
    ownedByPid: number | null;
    /** Still in the accept queue (no descriptor yet). */
    notAccepted: number;
  };
  /** The listening socket: current accept queue and its backlog. */
  listener: { queue: number; backlog: number } | null;
  /** This listener over every sample: how many samples saw it, in how many its queue was at its backlog, the longest queue. */
  listenerSamples?: { samples: number; full: number; maxQueue: number };
  /** CLOSE_WAIT change per second between the first and last sample. */
  closeWaitGrowthPerSec?: number;
}

export interface KernelCounters {
  listenOverflows: number;
  listenDrops: number;
  tcpAbortOnClose: number;
  tcpAbortOnData: number;
  outRsts: number;
  estabResets: number;
  conntrack: { count: number; max: number } | null;
  /** Deltas between first and last sample, same field names; absent with one sample. */
  delta?: Partial<Record<'listenOverflows' | 'listenDrops' | 'tcpAbortOnClose' | 'tcpAbortOnData' | 'outRsts' | 'estabResets', number>>;
  intervalMs?: number;
}

export interface LogFile {
  path: string;
  kind: 'access' | 'error' | 'app';
  sizeBytes: number;
  /** Seconds since the file was last written (host clock). */
  lastWriteAgeSec: number | null;
  /** The tail, oldest first, secrets redacted. */
  tail: string[];
}

export interface LogFacts {
  files: LogFile[];
  /**
   * Counted lines: `emfile` too many open files (any), `dbConnectEmfile` of those the ones where a DB
   * driver failed to open a connection, `enfile` the host's file table full, `poolTimeout` waits for a
   * pool connection that gave up, `acceptError` failed accept() calls.
   */
  signatures: { emfile: number; dbConnectEmfile: number; enfile: number; poolTimeout: number; acceptError: number };
  /** Request durations in the access log tail (ms), first half vs second half. */
  latency: { samples: number; earlyP50Ms: number | null; lateP50Ms: number | null; trend: 'rising' | 'flat' | 'falling' | 'unknown' };
}

/**
 * Pool formats, named by the library that reports them: `go_sql` (client_golang's DBStats
 * collector), `expvar` (Go `sql.DBStats` as JSON, `%v`/`%+v` or structured log fields), `hikaricp`
 * (Micrometer, HikariCP's own trackers and its `Pool stats` log line), `node-postgres` (pg.Pool
 * counts as exporters name them), `sqlalchemy` (`QueuePool.status()`), `pgbouncer` (`SHOW POOLS`),
 * `pg_stat_activity` (server-side connection counts).
 */
export const POOL_FORMATS = ['go_sql', 'expvar', 'hikaricp', 'node-postgres', 'sqlalchemy', 'pgbouncer', 'pg_stat_activity'] as const;
export type PoolFormat = (typeof POOL_FORMATS)[number];

/**
 * Formats in which a waiting request means every connection is in use: HikariCP, node-postgres and
 * pgbouncer only queue a request when no connection is free and none can be opened.
 */
export const WAITING_MEANS_FULL: ReadonlySet<PoolFormat> = new Set(['hikaricp', 'node-postgres', 'pgbouncer']);

/** A connection pool's state, whatever runtime reported it (Go DBStats, HikariCP, node-postgres). */
export interface PoolStats {
  /** Where the numbers came from, e.g. `http://127.0.0.1:2133/metrics`, `log:/var/log/x.log`. */
  source: string;
  format: PoolFormat;
  /** The pool's maximum; null when the source does not say (see `unlimited`). */
  maxOpen: number | null;
  /** The source says the pool has no maximum (Go `MaxOpenConnections` 0); never inferred from a missing number. */
  unlimited?: boolean;
  open: number | null;
  inUse: number | null;
  idle: number | null;
  /** Requests waiting for a connection right now (Hikari pending, node-postgres waitingCount). */
  waiting: number | null;
  /** Total waits for a connection since start (Go WaitCount). */
  waitCount: number | null;
  waitDurationSec: number | null;
  /** WaitCount change between samples, and the interval it was measured over. */
  waitCountDelta?: number;
  intervalMs?: number;
}

/** The pool over the last window, from a Prometheus server's history of the instance. */
export interface PoolHistory {
  source: string;
  windowSec: number;
  /** Scrapes of the pool's in-use series in the window. */
  points: number;
  maxInUse: number | null;
  /** WaitCount increase over the window. */
  waitCountIncrease: number | null;
  /** Since when in-use has been at the max without a break (ISO), if it is at the max at the end. */
  saturatedSince: string | null;
  /** Age of the newest scrape: a process out of descriptors stops answering its /metrics. */
  lastScrapeAgeSec: number | null;
}

export interface PoolFacts {
  stats: PoolStats | null;
  history?: PoolHistory;
  /** Every source tried, in discovery order, with what it gave. */
  tried: { source: string; result: string }[];
  /** Endpoints that did not answer while the probe also got no answer: served by the same blocked workers. */
  silentEndpoints?: string[];
}

export type SignalId = 'pool-saturated' | 'pool-waits' | 'fds-climbing' | 'latency-up' | 'traffic-surge' | 'resets-up';

export interface Onset {
  signal: SignalId;
  /** When it left its normal range and stayed out (ISO), or null if it did not. */
  at: string | null;
  /** What normal was and what it became, with numbers. */
  detail: string;
}

/** Monitoring history of the instance: which signal left its normal range first, and when. */
export interface HistoryFacts {
  source: string;
  windowSec: number;
  onsets: Onset[];
  /** The signal that left its normal range first, if any did. */
  first: SignalId | null;
}

/** One command of a forensic snapshot. */
export interface ForensicsSection {
  name: string;
  /** The command as a shell would show it (nothing is ever run through a shell). */
  command: string;
  /** The command ran and exited 0. */
  ok: boolean;
  truncated: boolean;
  lines: number;
  /** Redacted, capped output. */
  content: string;
  /** Why the section is not ok: first stderr line, or why the command could not run. */
  error?: string;
}

export interface ForensicsFacts {
  pid: number;
  /** ISO 8601, bot clock, when collection started. */
  takenAt: string;
  /** The host the commands ran on, as the user named it. */
  host?: string;
  sections: ForensicsSection[];
}

export interface Facts {
  /** A snapshot of the instance taken before an action destroys the evidence (steps/forensics.ts). */
  forensics?: ForensicsFacts;
  history?: HistoryFacts;
  probe?: ProbeFacts;
  process?: ProcessFacts;
  fds?: FdFacts;
  tcp?: TcpFacts;
  kernel?: KernelCounters;
  logs?: LogFacts;
  pool?: PoolFacts;
}

export type Severity = 'info' | 'warning' | 'critical';

/** One thing worth telling a human, as data; renderers decide how it looks. */
export interface Finding {
  /** Stable id, e.g. `fds-at-limit`. */
  id: string;
  step: string;
  severity: Severity;
  title: string;
  /** One or two sentences with the numbers. */
  detail: string;
  /** Short raw evidence lines (already redacted). */
  evidence?: string[];
}
