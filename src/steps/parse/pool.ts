/**
 * Connection-pool statistics from what services expose: Prometheus metrics (Go database/sql via
 * client_golang `collectors.NewDBStatsCollector`, HikariCP via Micrometer or Hikari's own Prometheus
 * tracker, node-postgres gauges), Go expvar JSON, `dbstats {...}` log lines, and server-side
 * `pg_stat_activity` counts. Pure functions, never throw; null when nothing usable is found.
 */
import { WAITING_MEANS_FULL, type PoolStats } from '../../core/facts.js';
import type { PromSample } from './prometheus.js';

type Format = PoolStats['format'];

function blank(source: string, format: Format): PoolStats {
  return { source, format, maxOpen: null, open: null, inUse: null, idle: null, waiting: null, waitCount: null, waitDurationSec: null };
}

function finite(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** How saturated a pool looks: inUse / maxOpen, 0 when unknown. Used to pick among several pools. */
function saturation(p: PoolStats): number {
  if (p.inUse === null || p.maxOpen === null || p.maxOpen <= 0) return p.waiting && p.waiting > 0 ? 0.5 : 0;
  return p.inUse / p.maxOpen;
}

function pickMostSaturated(cands: PoolStats[]): PoolStats | null {
  let best: PoolStats | null = null;
  for (const c of cands) if (best === null || saturation(c) > saturation(best)) best = c;
  return best;
}

/** Metric name → which PoolStats field it fills, per format. */
const PROM_MAP: Record<string, { format: Format; field: keyof PoolStats }> = {
  go_sql_max_open_connections: { format: 'go_sql', field: 'maxOpen' },
  go_sql_open_connections: { format: 'go_sql', field: 'open' },
  go_sql_in_use_connections: { format: 'go_sql', field: 'inUse' },
  go_sql_idle_connections: { format: 'go_sql', field: 'idle' },
  go_sql_wait_count_total: { format: 'go_sql', field: 'waitCount' },
  go_sql_wait_duration_seconds_total: { format: 'go_sql', field: 'waitDurationSec' },
  // HikariCP through Micrometer
  hikaricp_connections_active: { format: 'hikaricp', field: 'inUse' },
  hikaricp_connections_idle: { format: 'hikaricp', field: 'idle' },
  hikaricp_connections_pending: { format: 'hikaricp', field: 'waiting' },
  hikaricp_connections_max: { format: 'hikaricp', field: 'maxOpen' },
  hikaricp_connections: { format: 'hikaricp', field: 'open' },
  // HikariCP's own PrometheusMetricsTrackerFactory (simpleclient)
  hikaricp_active_connections: { format: 'hikaricp', field: 'inUse' },
  hikaricp_idle_connections: { format: 'hikaricp', field: 'idle' },
  hikaricp_pending_threads: { format: 'hikaricp', field: 'waiting' },
  hikaricp_max_connections: { format: 'hikaricp', field: 'maxOpen' },
  // node-postgres: @christiangalsterer/node-postgres-prometheus-exporter
  pg_pool_size: { format: 'node-postgres', field: 'open' },
  pg_pool_active_connections: { format: 'node-postgres', field: 'inUse' },
  pg_pool_idle_connections: { format: 'node-postgres', field: 'idle' },
  pg_pool_waiting_connections: { format: 'node-postgres', field: 'waiting' },
  // node-postgres: prom-client gauges named after pg.Pool's totalCount / idleCount / waitingCount
  pg_pool_total_count: { format: 'node-postgres', field: 'open' },
  pg_pool_idle_count: { format: 'node-postgres', field: 'idle' },
  pg_pool_waiting_count: { format: 'node-postgres', field: 'waiting' },
  pg_pool_max: { format: 'node-postgres', field: 'maxOpen' },
};

/** Labels that identify a pool; other labels (instance, job, application) are ignored for grouping. */
const POOL_LABELS = ['db_name', 'pool', 'name', 'datasource', 'db', 'database', 'host'];

function groupKey(labels: Record<string, string>): string {
  return POOL_LABELS.map((k) => `${k}=${labels[k] ?? ''}`).join('\u0000');
}

/**
 * Pool stats from Prometheus samples. Several pools (Go `db_name`, Hikari `pool` label) → the one with
 * the highest inUse/max ratio. Go `go_sql_max_open_connections` 0 means unlimited → maxOpen null.
 * Hikari `hikaricp_connections_timeout_total` is not a wait count and is not mapped; Hikari and
 * node-postgres leave waitCount/waitDurationSec null. node-postgres inUse = total − idle.
 */
export function poolFromPrometheus(samples: PromSample[], source: string): PoolStats | null {
  if (!Array.isArray(samples)) return null;
  const groups = new Map<string, PoolStats>();
  for (const s of samples) {
    if (!s || typeof s.name !== 'string') continue;
    const m = PROM_MAP[s.name];
    if (!m) continue;
    const v = finite(s.value);
    if (v === null) continue;
    const key = `${m.format}\u0001${groupKey(s.labels ?? {})}`;
    let p = groups.get(key);
    if (!p) {
      p = blank(source, m.format);
      groups.set(key, p);
    }
    (p as unknown as Record<string, number | null>)[m.field] = v;
  }
  const cands: PoolStats[] = [];
  for (const p of groups.values()) {
    if (p.format === 'go_sql' && p.maxOpen === 0) {
      p.maxOpen = null;
      p.unlimited = true;
    }
    if (p.format === 'node-postgres' && p.inUse === null && p.open !== null && p.idle !== null) {
      p.inUse = Math.max(0, p.open - p.idle);
    }
    if (p.format === 'hikaricp' && p.open === null && p.inUse !== null && p.idle !== null) p.open = p.inUse + p.idle;
    // A group needs at least one of the pool-size numbers to be useful.
    if (p.inUse === null && p.open === null && p.maxOpen === null && p.waiting === null) continue;
    cands.push(p);
  }
  // Prefer the most saturated; on a tie the first format seen in PROM_MAP order.
  const order: Format[] = ['go_sql', 'hikaricp', 'node-postgres'];
  cands.sort((a, b) => order.indexOf(a.format) - order.indexOf(b.format));
  return pickMostSaturated(cands);
}

/** A pool as measured: which of its numbers this run has, and what they say. */
export interface PoolState {
  /** Every connection was in use: in-use at the maximum with none idle, or (where the format means it) a request waiting. */
  full: boolean;
  /** In-use at a known maximum with none idle, in this sample. */
  atMax: boolean;
  /** Requests waiting for a connection in this sample. */
  waitingNow: boolean;
  /** Requests waited for a connection: waiting now, or waits counted between samples. */
  queued: boolean;
  /** Whether waiting was measured at all (a waiting count, or a wait counter sampled twice). */
  queuedMeasured: boolean;
  /** In-use and maximum measured, in-use below the maximum and nothing waiting (or no maximum, by the source's word, and nothing waiting). */
  room: boolean;
  /** What this run did not measure about the pool, for the caller to say. */
  unmeasured: string[];
}

/**
 * A pool's state by its own semantics. `cannotDial`: the driver failed to open connections (out of
 * descriptors), so the pool has no room whatever it counts.
 */
export function assessPool(s: PoolStats, cannotDial = false): PoolState {
  const waitingNow = s.waiting !== null && s.waiting > 0;
  const waitsBetween = s.waitCountDelta !== undefined && s.waitCountDelta > 0;
  // These pools only queue a request when every connection is taken (Go's database/sql when open
  // connections reach MaxOpenConnections): in-use below a known maximum means nobody waits now.
  const belowKnownMax = s.maxOpen !== null && s.inUse !== null && s.inUse < s.maxOpen && s.format !== 'sqlalchemy' && s.format !== 'pg_stat_activity';
  const queuedMeasured = s.waiting !== null || s.waitCountDelta !== undefined || belowKnownMax;
  const queued = waitingNow || waitsBetween;
  const atMax = s.maxOpen !== null && s.maxOpen > 0 && s.inUse !== null && s.inUse >= s.maxOpen && (s.idle ?? 0) === 0;
  // HikariCP, node-postgres and pgbouncer queue a request only when every connection is taken;
  // Go's database/sql counts a wait only when MaxOpenConnections is reached.
  const full =
    atMax ||
    (WAITING_MEANS_FULL.has(s.format) && waitingNow) ||
    ((s.format === 'go_sql' || s.format === 'expvar') && !s.unlimited && waitsBetween);
  const belowMax = s.maxOpen !== null && s.inUse !== null && s.inUse < s.maxOpen;
  const room = !cannotDial && queuedMeasured && !queued && (belowMax || (s.unlimited === true && s.inUse !== null));
  const unmeasured = [
    ...(s.inUse === null ? ['connections in use'] : []),
    ...(s.maxOpen === null && !s.unlimited ? ["the pool's maximum (not exported)"] : []),
    ...(!queuedMeasured ? ['requests waiting for a connection'] : []),
  ];
  return { full, atMax, waitingNow, queued, queuedMeasured, room, unmeasured };
}

/** `/20`, ` (no maximum set)` when the source says unlimited, ` (maximum not reported)` otherwise. */
export function poolMaxText(s: PoolStats): string {
  return s.maxOpen !== null ? `/${s.maxOpen}` : s.unlimited ? ' (no maximum set)' : ' (maximum not reported)';
}

const GO_UNITS: Record<string, number> = { ns: 1e-9, us: 1e-6, 'µs': 1e-6, 'μs': 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };

/** Parses a Go `time.Duration` string (`1m2.5s`, `81.234s`, `500ms`, `1h0m0s`, `0s`) to seconds. */
export function parseGoDuration(s: string): number | null {
  if (typeof s !== 'string' || s.length === 0 || s.length > 100) return null;
  let rest = s.trim();
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    if (rest[0] === '-') sign = -1;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  const re = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/;
  let total = 0;
  let parts = 0;
  while (rest.length > 0) {
    const m = re.exec(rest);
    if (!m) return null;
    total += Number(m[1]) * (GO_UNITS[m[2] ?? ''] ?? NaN);
    rest = rest.slice(m[0].length);
    parts++;
  }
  // round to the nanosecond so `1m21.234s` gives 81.234, not 81.23400000000001
  return parts > 0 && Number.isFinite(total) ? (sign * Math.round(total * 1e9)) / 1e9 : null;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function num(v: unknown): number | null {
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v)) return Number(v);
  return null;
}

/** DBStats-like field names, normalized (lower case, letters and digits only), → what they fill. */
const DBSTATS_KEYS: Record<string, 'maxOpen' | 'open' | 'inUse' | 'idle' | 'waitCount' | 'waitNs' | 'waitMs' | 'waitSec'> = {
  maxopenconnections: 'maxOpen',
  maxopen: 'maxOpen',
  maxopenconns: 'maxOpen',
  openconnections: 'open',
  open: 'open',
  openconns: 'open',
  inuse: 'inUse',
  inuseconnections: 'inUse',
  idle: 'idle',
  idleconnections: 'idle',
  waitcount: 'waitCount',
  waitduration: 'waitNs',
  waitdurationns: 'waitNs',
  waitdurationms: 'waitMs',
  waitdurationseconds: 'waitSec',
  waitdurationsec: 'waitSec',
};

/**
 * An object with Go `sql.DBStats` fields under any common spelling (`MaxOpenConnections`,
 * `max_open_connections`, `maxOpen`, ...) → PoolStats; null unless the maximum and in-use are numbers.
 * A maximum of 0 is Go's "no limit". WaitDuration: nanoseconds (encoding/json of a time.Duration), a
 * Go duration string (`%v`, logfmt), or milliseconds/seconds when the key says so.
 */
function fromDbStats(o: Record<string, unknown>, source: string): PoolStats | null {
  const v: Partial<Record<(typeof DBSTATS_KEYS)[string], unknown>> = {};
  for (const [k, val] of Object.entries(o)) {
    const field = DBSTATS_KEYS[k.toLowerCase().replace(/[^a-z0-9]/g, '')];
    if (field && v[field] === undefined) v[field] = val;
  }
  const max = num(v.maxOpen);
  const inUse = num(v.inUse);
  if (max === null || inUse === null) return null;
  const p = blank(source, 'expvar');
  p.maxOpen = max === 0 ? null : max;
  if (max === 0) p.unlimited = true;
  p.inUse = inUse;
  p.open = num(v.open);
  p.idle = num(v.idle);
  p.waitCount = num(v.waitCount);
  const wd = v.waitNs;
  if (typeof wd === 'number' && Number.isFinite(wd)) p.waitDurationSec = wd / 1e9;
  else if (typeof wd === 'string') p.waitDurationSec = /^\d+$/.test(wd) ? Number(wd) / 1e9 : parseGoDuration(wd);
  else if (num(v.waitMs) !== null) p.waitDurationSec = (num(v.waitMs) as number) / 1000;
  else if (num(v.waitSec) !== null) p.waitDurationSec = num(v.waitSec);
  return p;
}

/**
 * Go expvar JSON (`/debug/vars`): searches objects up to depth 4 for one with `MaxOpenConnections` and
 * `InUse` (sql.DBStats field names). Several → the most saturated. WaitDuration is nanoseconds (how
 * encoding/json writes a time.Duration) or a Go duration string.
 */
export function poolFromExpvar(json: unknown, source: string): PoolStats | null {
  return pickMostSaturated(findDbStats(json, source));
}

function findDbStats(json: unknown, source: string): PoolStats[] {
  const found: PoolStats[] = [];
  let visited = 0;
  const walk = (v: unknown, depth: number): void => {
    if (depth > 4 || visited > 10_000) return;
    visited++;
    if (Array.isArray(v)) return; // DBStats are objects; arrays (memstats.PauseNs, BySize) are skipped
    if (!isRecord(v)) return;
    const p = fromDbStats(v, source);
    if (p) {
      found.push(p);
      return;
    }
    for (const k of Object.keys(v)) walk(v[k], depth + 1);
  };
  try {
    walk(json, 0);
  } catch {
    return []; // e.g. a throwing getter on an exotic object
  }
  return found;
}

/** Finds the balanced `{...}` starting at `start` (string-aware). */
function balancedObject(s: string, start: number): string | null {
  let depth = 0;
  let inStr = false;
  for (let i = start; i < s.length && i < start + 100_000; i++) {
    const c = s[i];
    if (inStr) {
      if (c === '\\') i++;
      else if (c === '"') inStr = false;
      continue;
    }
    if (c === '"') inStr = true;
    else if (c === '{') depth++;
    else if (c === '}') {
      depth--;
      if (depth === 0) return s.slice(start, i + 1);
    }
  }
  return null;
}

/** Go's DBStats field order, as `%v` prints the struct (Go ≥ 1.15: 9 fields; 1.11–1.14: 8, without MaxIdleTimeClosed). */
const DBSTATS_ORDER = ['MaxOpenConnections', 'OpenConnections', 'InUse', 'Idle', 'WaitCount', 'WaitDuration'];

/** `key=value` pairs of a logfmt line (values quoted or bare). */
function logfmtPairs(line: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /([A-Za-z_][\w.-]{0,63})=("(?:[^"\\]|\\.){0,1000}"|[^\s"]{0,1000})/g;
  let m: RegExpExecArray | null;
  let guard = 0;
  while ((m = re.exec(line)) !== null && guard++ < 200) {
    const raw = m[2] ?? '';
    out[m[1] ?? ''] = raw.startsWith('"') ? raw.slice(1, -1).replace(/\\"/g, '"') : raw;
  }
  return out;
}

const HIKARI_STATS_RE = /Pool stats \(total=(\d+), active=(\d+), idle=(\d+), waiting=(\d+)\)/;
const SQLALCHEMY_RE = /Pool size: (\d+)\s+Connections in pool: (\d+)\s+Current Overflow: (-?\d+)\s+Current Checked out connections: (\d+)/;

/**
 * Pool statistics in one log line, as services print them:
 * - Go `sql.DBStats`: `%+v` (`db stats: {MaxOpenConnections:2 OpenConnections:2 InUse:2 ...}`), `%v`
 *   (`db stats: {2 2 2 0 12 2.3s 0 0 0}`, after a word naming db/sql/pool stats), JSON (the struct as
 *   encoding/json writes it, or snake_case fields), logfmt (`max_open_connections=2 in_use=2 ...`);
 * - HikariCP's DEBUG housekeeping line `HikariPool-1 - Pool stats (total=2, active=2, idle=0, waiting=38)`;
 * - SQLAlchemy's `QueuePool.status()`: `Pool size: 5  Connections in pool: 0 Current Overflow: 2
 *   Current Checked out connections: 7` (its maximum, pool_size + max_overflow, is not printed).
 * `source` tells where the line came from.
 */
export function poolFromLogLine(line: string, source: string): PoolStats | null {
  if (typeof line !== 'string' || line.length === 0) return null;
  const text = line.length > 65_536 ? line.slice(0, 65_536) : line;
  const hikari = HIKARI_STATS_RE.exec(text);
  if (hikari) {
    const p = blank(source, 'hikaricp');
    p.open = Number(hikari[1]);
    p.inUse = Number(hikari[2]);
    p.idle = Number(hikari[3]);
    p.waiting = Number(hikari[4]);
    return p;
  }
  const sa = SQLALCHEMY_RE.exec(text);
  if (sa) {
    const p = blank(source, 'sqlalchemy');
    p.idle = Number(sa[2]);
    p.inUse = Number(sa[4]);
    p.open = p.inUse + p.idle;
    return p;
  }
  const brace = text.indexOf('{');
  if (brace >= 0 && text.trimStart().startsWith('{')) {
    try {
      const found = findDbStats(JSON.parse(text) as unknown, source);
      if (found[0]) return found[0];
    } catch {
      // not a JSON line; try the other forms
    }
  }
  // `%+v` / `%v` of the struct, or JSON embedded after a prefix
  const at = text.search(/\{\s*"?MaxOpenConnections"?\s*:|(?:db|sql|pool)[ _.-]?stats?[^{]{0,8}\{/i);
  if (at >= 0) {
    const obj = balancedObject(text, text.indexOf('{', at));
    if (obj !== null) {
      try {
        const found = findDbStats(JSON.parse(obj) as unknown, source);
        if (found[0]) return found[0];
      } catch {
        // not JSON
      }
      const inner = obj.slice(1, -1).trim();
      if (/^[A-Za-z]+:/.test(inner)) {
        const fields: Record<string, unknown> = {};
        for (const m of inner.matchAll(/([A-Za-z]+):(\S+)/g)) fields[m[1] ?? ''] = /^-?\d+$/.test(m[2] ?? '') ? Number(m[2]) : m[2];
        const p = fromDbStats(fields, source);
        if (p) return p;
      } else {
        const tokens = inner.split(/\s+/);
        if ((tokens.length === 9 || tokens.length === 8) && tokens.every((x, i) => (i === 5 ? parseGoDuration(x) !== null : /^\d+$/.test(x)))) {
          return fromDbStats(Object.fromEntries(DBSTATS_ORDER.map((k, i) => [k, i === 5 ? tokens[i] : Number(tokens[i])])), source);
        }
      }
    }
  }
  if (text.includes('=')) {
    const p = fromDbStats(logfmtPairs(text), source);
    if (p) return p;
  }
  return null;
}

const ISO_TIME_RE = /(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d(?:[.,]\d{1,9})?)(Z|[+-]\d\d:?\d\d)?/;
const GO_LOG_TIME_RE = /^(\d{4})\/(\d\d)\/(\d\d) (\d\d:\d\d:\d\d(?:\.\d{1,9})?)/;
const EPOCH_TS_RE = /"(?:ts|time|timestamp)"\s*:\s*(\d{10}(?:\.\d{1,9})?)(?!\d)/;

/**
 * When a log line was written, in ms since the epoch, or null: ISO 8601 (with `T` or a space, comma or
 * dot fractions), Go's standard `log` prefix (`2006/01/02 15:04:05[.000000]`), or a JSON `ts` in epoch
 * seconds (zap). A time without a zone is read as UTC: only differences between lines of one file are used.
 */
export function logLineTime(line: string): number | null {
  if (typeof line !== 'string') return null;
  const head = line.slice(0, 400);
  const go = GO_LOG_TIME_RE.exec(head);
  if (go) {
    const t = Date.parse(`${go[1]}-${go[2]}-${go[3]}T${(go[4] ?? '').slice(0, 12)}Z`);
    return Number.isFinite(t) ? t : null;
  }
  const epoch = EPOCH_TS_RE.exec(head);
  if (epoch) return Math.round(Number(epoch[1]) * 1000);
  const iso = ISO_TIME_RE.exec(head);
  if (iso) {
    const zone = iso[3] ? (iso[3] === 'Z' ? 'Z' : iso[3].replace(/^([+-]\d\d)(\d\d)$/, '$1:$2')) : 'Z';
    const t = Date.parse(`${iso[1]}T${(iso[2] ?? '').replace(',', '.').slice(0, 12)}${zone}`);
    return Number.isFinite(t) ? t : null;
  }
  return null;
}

/**
 * pgbouncer's `SHOW POOLS` as psql prints it, aligned or unaligned (`-A`), with its header line:
 * the pool of `database` (default: the one with the most waiting clients) → inUse = sv_active,
 * idle = sv_idle + sv_used (server connections free for a client; `sv_used` ones are reset first),
 * waiting = cl_waiting, open = sv_active + sv_idle + sv_used + sv_tested + sv_login; the pool size
 * is not in SHOW POOLS (maxOpen null). Columns are found by name, so versions that add columns parse.
 */
export function poolFromPgbouncer(text: string, source: string, database?: string): PoolStats | null {
  if (typeof text !== 'string') return null;
  const rows = text
    .slice(0, 1_000_000)
    .split('\n')
    .map((l) => l.replace(/\r$/, ''))
    .filter((l) => l.includes('|') && !/^[-+]+$/.test(l.trim()));
  const headerAt = rows.findIndex((r) => /\bcl_waiting\b/.test(r) && /\bsv_active\b/.test(r));
  if (headerAt < 0) return null;
  const cols = (rows[headerAt] ?? '').split('|').map((c) => c.trim());
  const col = (name: string) => cols.indexOf(name);
  const best: PoolStats[] = [];
  for (const row of rows.slice(headerAt + 1)) {
    const cells = row.split('|').map((c) => c.trim());
    if (cells.length !== cols.length || cells[col('database')] === 'pgbouncer') continue;
    if (database !== undefined && cells[col('database')] !== database) continue;
    const n = (name: string) => (col(name) >= 0 && /^\d{1,9}$/.test(cells[col(name)] ?? '') ? Number(cells[col(name)]) : 0);
    const p = blank(source, 'pgbouncer');
    p.inUse = n('sv_active');
    p.idle = n('sv_idle') + n('sv_used');
    p.waiting = n('cl_waiting');
    p.open = p.inUse + p.idle + n('sv_tested') + n('sv_login');
    best.push(p);
  }
  best.sort((a, b) => (b.waiting ?? 0) - (a.waiting ?? 0) || (b.inUse ?? 0) - (a.inUse ?? 0));
  return best[0] ?? null;
}

/**
 * `psql -At -c "select state, count(*) from pg_stat_activity group by state"` lines (`active|3`,
 * `idle|5`, `|2` for background workers without a state). open = sum of all counts,
 * inUse = `active` + `idle in transaction` + `idle in transaction (aborted)` (both hold a
 * connection), idle = `idle`, maxOpen = maxConnections (null if not a positive number).
 */
export function poolFromPgStatActivity(text: string, maxConnections: number, source: string): PoolStats | null {
  if (typeof text !== 'string') return null;
  let seen = false;
  let open = 0;
  let active = 0;
  let idle = 0;
  for (const raw of text.slice(0, 1_000_000).split('\n')) {
    const line = raw.replace(/\r$/, '');
    const bar = line.lastIndexOf('|');
    if (bar < 0) continue;
    const state = line.slice(0, bar).trim();
    const countText = line.slice(bar + 1).trim();
    if (!/^\d{1,9}$/.test(countText)) continue;
    const c = Number(countText);
    seen = true;
    open += c;
    if (state === 'active' || state === 'idle in transaction' || state === 'idle in transaction (aborted)') active += c;
    else if (state === 'idle') idle += c;
  }
  if (!seen) return null;
  const p = blank(source, 'pg_stat_activity');
  p.maxOpen = Number.isFinite(maxConnections) && maxConnections > 0 ? maxConnections : null;
  p.open = open;
  p.inUse = active;
  p.idle = idle;
  return p;
}
