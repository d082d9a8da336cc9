/**
 * Connection-pool statistics from what services expose: Prometheus metrics (Go database/sql via
 * client_golang `collectors.NewDBStatsCollector`, HikariCP via Micrometer or Hikari's own Prometheus
 * tracker, node-postgres gauges), Go expvar JSON, `dbstats {...}` log lines, and server-side
 * `pg_stat_activity` counts. Pure functions, never throw; null when nothing usable is found.
 */
import type { PoolStats } from '../../core/facts.js';
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
  // node-postgres gauges
  pg_pool_total_count: { format: 'node-postgres', field: 'open' },
  pg_pool_idle_count: { format: 'node-postgres', field: 'idle' },
  pg_pool_waiting_count: { format: 'node-postgres', field: 'waiting' },
  pg_pool_max: { format: 'node-postgres', field: 'maxOpen' },
};

/** Labels that identify a pool; other labels (instance, job, application) are ignored for grouping. */
const POOL_LABELS = ['db_name', 'pool', 'name', 'datasource', 'db'];

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
    if (p.format === 'go_sql' && p.maxOpen === 0) p.maxOpen = null;
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

/** DBStats object (exported field names) → PoolStats; null unless MaxOpenConnections and InUse are numbers. */
function fromDbStats(o: Record<string, unknown>, source: string): PoolStats | null {
  const max = num(o['MaxOpenConnections']);
  const inUse = num(o['InUse']);
  if (max === null || inUse === null) return null;
  const p = blank(source, 'expvar');
  p.maxOpen = max === 0 ? null : max;
  p.inUse = inUse;
  p.open = num(o['OpenConnections']);
  p.idle = num(o['Idle']);
  p.waitCount = num(o['WaitCount']);
  const wd = o['WaitDuration'];
  if (typeof wd === 'number' && Number.isFinite(wd)) p.waitDurationSec = wd / 1e9;
  else if (typeof wd === 'string') p.waitDurationSec = /^\d+$/.test(wd) ? Number(wd) / 1e9 : parseGoDuration(wd);
  return p;
}

/**
 * Go expvar JSON (`/debug/vars`): searches objects up to depth 4 for one with `MaxOpenConnections` and
 * `InUse` (sql.DBStats field names). Several → the most saturated. WaitDuration is nanoseconds (how
 * encoding/json writes a time.Duration) or a Go duration string.
 */
export function poolFromExpvar(json: unknown, source: string): PoolStats | null {
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
    return null; // e.g. a throwing getter on an exotic object
  }
  return pickMostSaturated(found);
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

/**
 * A log line with `dbstats ` followed by a DBStats JSON object
 * (`... dbstats {"MaxOpenConnections":2,"InUse":2,...}`), or Go's `%+v` form
 * (`dbstats {MaxOpenConnections:2 OpenConnections:2 InUse:2 ... WaitDuration:1m21.234s ...}`).
 * Format 'expvar' (same field names); `source` tells where the line came from.
 */
export function poolFromLogLine(line: string, source: string): PoolStats | null {
  if (typeof line !== 'string') return null;
  const at = line.search(/dbstats[:=]?\s+\{/i);
  if (at < 0) return null;
  const brace = line.indexOf('{', at);
  const obj = balancedObject(line, brace);
  if (obj === null) return null;
  try {
    const parsed: unknown = JSON.parse(obj);
    if (isRecord(parsed)) return fromDbStats(parsed, source);
  } catch {
    // not JSON; try Go's %+v struct form below
  }
  const fields: Record<string, unknown> = {};
  const re = /([A-Za-z]+):(\S+?)(?=[\s}])/g;
  let m: RegExpExecArray | null;
  let guard = 0;
  while ((m = re.exec(obj)) !== null && guard++ < 100) {
    const key = m[1] ?? '';
    const val = m[2] ?? '';
    fields[key] = /^-?\d+$/.test(val) ? Number(val) : val;
  }
  return fromDbStats(fields, source);
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
