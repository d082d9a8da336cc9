import { z } from 'zod';
import { WAITING_MEANS_FULL, type Finding, type PoolFacts, type PoolHistory, type PoolStats } from '../core/facts.js';
import { defineStep } from '../engine/step.js';
import { assessPool, logLineTime, poolFromExpvar, poolFromLogLine, poolFromPgbouncer, poolFromPgStatActivity, poolFromPrometheus, poolMaxText } from './parse/pool.js';
import { parsePrometheusText, type PromSample } from './parse/prometheus.js';

/** How far back the Prometheus history is read. */
export const HISTORY_WINDOW_SEC = 30 * 60;

const Input = z.object({
  address: z.string().describe('address of the instance'),
  port: z.number().int().describe('service port, where /metrics and /debug/vars are tried'),
  metricsUrl: z.string().url().optional().describe('configured Prometheus-text endpoint'),
  expvarUrl: z.string().url().optional().describe('configured expvar endpoint'),
  prometheusUrl: z.string().url().optional().describe('Prometheus server holding the instance history'),
  postgres: z.object({ dsn: z.string(), maxConnections: z.number().int().optional() }).optional(),
  pgbouncer: z.object({ dsn: z.string(), database: z.string().optional() }).optional().describe("pgbouncer's admin console, for SHOW POOLS"),
  logLines: z.array(z.object({ path: z.string(), lines: z.array(z.string()) })).default([]).describe('log tails, for periodic pool-stats lines'),
  httpTimeoutMs: z.number().int().positive().describe('deadline of one HTTP fetch'),
});
type Input = z.infer<typeof Input>;

type Fetched = { source: string; kind: 'prom-text' | 'expvar' | 'prom-api' | 'pg' | 'pgbouncer'; body?: string; error?: string };
interface Raw {
  fetched: Fetched[];
}

/** Pure: pool stats from one fetched source, or the reason there were none. */
export function poolFromFetched(f: Fetched, maxConnections?: number, database?: string): { stats: PoolStats | null; result: string } {
  if (f.error !== undefined) return { stats: null, result: f.error };
  const body = f.body ?? '';
  let stats: PoolStats | null = null;
  if (f.kind === 'prom-text') stats = poolFromPrometheus(parsePrometheusText(body).samples, f.source);
  else if (f.kind === 'prom-api') stats = poolFromPrometheus(promApiSamples(body), f.source);
  else if (f.kind === 'pg') stats = poolFromPgStatActivity(body, maxConnections ?? 100, f.source);
  else if (f.kind === 'pgbouncer') stats = poolFromPgbouncer(body, f.source, database);
  else {
    try {
      stats = poolFromExpvar(JSON.parse(body), f.source);
    } catch {
      return { stats: null, result: 'not JSON' };
    }
  }
  return { stats, result: stats ? 'pool statistics found' : 'no pool series in the answer' };
}

const PromMatrix = z.object({
  status: z.literal('success'),
  data: z.object({
    resultType: z.literal('matrix'),
    result: z.array(z.object({ metric: z.record(z.string(), z.string()), values: z.array(z.tuple([z.number(), z.string()])) })),
  }),
});
type Series = { name: string; labels: Record<string, string>; values: [number, number][] };

/** Pure: a range-vector answer (`selector[30m]`) of the Prometheus HTTP API as series. */
export function promApiSeries(body: string): Series[] {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return [];
  }
  const parsed = PromMatrix.safeParse(json);
  if (!parsed.success) return [];
  return parsed.data.data.result.map(({ metric, values }) => {
    const { __name__: name = '', ...labels } = metric;
    return { name, labels, values: values.map(([t, v]) => [t, Number(v)] as [number, number]) };
  });
}

/** Pure: the newest value of each series, as samples. */
export function promApiSamples(body: string): PromSample[] {
  return promApiSeries(body).flatMap((s) => {
    const last = s.values[s.values.length - 1];
    return last ? [{ name: s.name, labels: s.labels, value: last[1] }] : [];
  });
}

const IN_USE = ['go_sql_in_use_connections', 'hikaricp_connections_active', 'hikaricp_active_connections', 'pg_pool_active_connections'];
const MAX = ['go_sql_max_open_connections', 'hikaricp_connections_max', 'hikaricp_max_connections', 'pg_pool_max'];
const WAITS = ['go_sql_wait_count_total'];

/** Pure: what the pool did over the window, from a range-vector answer; `nowSec` is the bot's clock. */
export function poolHistory(body: string, source: string, windowSec: number, nowSec: number): PoolHistory | null {
  const series = promApiSeries(body);
  const find = (names: string[]) => series.find((s) => names.includes(s.name));
  const inUse = find(IN_USE);
  if (!inUse || inUse.values.length === 0) return null;
  const max = find(MAX);
  const waits = find(WAITS);
  const maxAt = (t: number) => {
    if (!max) return null;
    let v: number | null = null;
    for (const [ts, val] of max.values) if (ts <= t) v = val;
    return v ?? max.values[0]?.[1] ?? null;
  };
  let saturatedSince: number | null = null;
  for (const [t, v] of inUse.values) {
    const m = maxAt(t);
    if (m !== null && m > 0 && v >= m) saturatedSince ??= t;
    else saturatedSince = null;
  }
  const lastT = inUse.values[inUse.values.length - 1]?.[0] ?? nowSec;
  const wv = waits?.values ?? [];
  let increase: number | null = null;
  if (wv.length > 1) {
    increase = 0;
    for (let i = 1; i < wv.length; i++) {
      const d = (wv[i]?.[1] ?? 0) - (wv[i - 1]?.[1] ?? 0);
      increase += d >= 0 ? d : (wv[i]?.[1] ?? 0); // a counter reset: the process restarted
    }
  }
  return {
    source,
    windowSec,
    points: inUse.values.length,
    maxInUse: Math.max(...inUse.values.map(([, v]) => v)),
    waitCountIncrease: increase,
    saturatedSince: saturatedSince !== null ? new Date(saturatedSince * 1000).toISOString() : null,
    lastScrapeAgeSec: Math.max(0, Math.round(nowSec - lastT)),
  };
}

/** Pure: pool stats from periodic pool-stats log lines (see `poolFromLogLine`), newest last, with their time stamps. */
export function poolFromLogs(logLines: Input['logLines']): { stats: PoolStats; at: number | null }[] {
  const out: { stats: PoolStats; at: number | null }[] = [];
  for (const { path, lines } of logLines) {
    for (const line of lines) {
      const stats = poolFromLogLine(line, `log:${path}`);
      if (stats) out.push({ stats, at: logLineTime(line) });
    }
  }
  return out;
}

/** A fetch that gave up on time: the endpoint accepted nothing or answered nothing in time. */
function timedOut(f: Fetched): boolean {
  return f.error !== undefined && /time(d)? ?out|aborted|ETIMEDOUT|no answer within/i.test(f.error);
}

/**
 * The connection pool: from configured endpoints, a Prometheus server, the service's own
 * /metrics and /debug/vars, PostgreSQL's pg_stat_activity, or pool-stats lines in its logs.
 */
export const dbStatsStep = defineStep<Input, Raw>({
  id: 'db-stats',
  description: 'read the DB connection pool statistics',
  input: Input,
  needs: ['logs'],
  sampled: true,
  async collect(ctx) {
    const i = ctx.input;
    const base = `http://${i.address.includes(':') ? `[${i.address}]` : i.address}:${i.port}`;
    const http: { source: string; kind: Fetched['kind'] }[] = [];
    if (i.metricsUrl) http.push({ source: i.metricsUrl, kind: 'prom-text' });
    if (i.expvarUrl) http.push({ source: i.expvarUrl, kind: 'expvar' });
    if (i.prometheusUrl) {
      // A range selector, not an instant query: a process out of descriptors fails its scrapes and
      // its series go stale, but their last values and history are still in the window.
      const sel = `{__name__=~"go_sql_.+|hikaricp_.+|pg_pool_.+",instance="${i.address}:${i.port}"}[${HISTORY_WINDOW_SEC}s]`;
      http.push({ source: `${i.prometheusUrl.replace(/\/$/, '')}/api/v1/query?query=${encodeURIComponent(sel)}`, kind: 'prom-api' });
    }
    // Where services publish pool statistics unasked: Prometheus text at /metrics (client_golang,
    // prom-client, HikariCP trackers) and /actuator/prometheus (Spring Boot), Go expvar at /debug/vars.
    if (!i.metricsUrl && !i.expvarUrl) {
      http.push({ source: `${base}/metrics`, kind: 'prom-text' }, { source: `${base}/actuator/prometheus`, kind: 'prom-text' }, { source: `${base}/debug/vars`, kind: 'expvar' });
    }
    const fetched: Fetched[] = await Promise.all(
      http.map(async ({ source, kind }) => {
        try {
          const res = await ctx.net.get(source, { timeoutMs: i.httpTimeoutMs, signal: ctx.signal });
          return res.status === 200 ? { source, kind, body: res.body } : { source, kind, error: `HTTP ${res.status}` };
        } catch (err) {
          const why = (err as Error).message.replace(/^GET \S+: /, '');
          return { source, kind, error: /ECONNRESET|socket hang up|other side closed/i.test(why) ? `${why} (the process may be out of descriptors)` : why };
        }
      }),
    );
    if (i.postgres) {
      const res = await ctx.exec.run(
        ['psql', '-X', '-A', '-t', '-d', i.postgres.dsn, '-c', "select coalesce(state, ''), count(*) from pg_stat_activity where backend_type = 'client backend' and datname = current_database() and pid <> pg_backend_pid() group by 1"],
        { signal: ctx.signal, timeoutMs: ctx.commandTimeoutMs },
      ).catch((err: Error) => ({ exitCode: -1, stdout: '', stderr: err.message }));
      fetched.push(res.exitCode === 0 ? { source: 'pg_stat_activity', kind: 'pg', body: res.stdout } : { source: 'pg_stat_activity', kind: 'pg', error: res.stderr.trim().split('\n')[0] ?? 'psql failed' });
    }
    if (i.pgbouncer) {
      const res = await ctx.exec
        .run(['psql', '-X', '-A', '-d', i.pgbouncer.dsn, '-c', 'SHOW POOLS'], { signal: ctx.signal, timeoutMs: ctx.commandTimeoutMs })
        .catch((err: Error) => ({ exitCode: -1, stdout: '', stderr: err.message }));
      fetched.push(res.exitCode === 0 ? { source: 'pgbouncer SHOW POOLS', kind: 'pgbouncer', body: res.stdout } : { source: 'pgbouncer SHOW POOLS', kind: 'pgbouncer', error: res.stderr.trim().split('\n')[0] ?? 'psql failed' });
    }
    return { fetched };
  },
  analyze(samples, input) {
    const maxConn = input.postgres?.maxConnections;
    const statsOf = (raw: Raw | undefined) =>
      (raw?.fetched ?? []).map((f) => poolFromFetched(f, maxConn, input.pgbouncer?.database).stats).filter((x): x is PoolStats => x !== null);
    const last = samples[samples.length - 1];
    const first = samples[0];
    const lastStats = statsOf(last?.raw);
    const firstStats = samples.length > 1 ? statsOf(first?.raw) : [];
    const tried: PoolFacts['tried'] = (last?.raw.fetched ?? []).map((f) => ({ source: redactUrl(f.source), result: poolFromFetched(f, maxConn, input.pgbouncer?.database).result }));
    const silent = (last?.raw.fetched ?? []).filter((f) => f.kind !== 'pg' && f.kind !== 'pgbouncer' && f.kind !== 'prom-api' && timedOut(f)).map((f) => redactUrl(f.source));

    // Preference: the first source (configured ones come first) that answered in both samples,
    // with a rate over our interval where it counts waits; else periodic pool lines in the logs
    // (a rate over their own time stamps); else a single answer without a rate.
    let stats: PoolStats | null = null;
    for (const now of lastStats) {
      const before = firstStats.find((b) => b.source === now.source);
      if (!before || !first || !last) continue;
      stats = before.waitCount !== null && now.waitCount !== null ? { ...now, waitCountDelta: now.waitCount - before.waitCount, intervalMs: last.at - first.at } : now;
      break;
    }
    const fromLogs = poolFromLogs(input.logLines);
    tried.push({
      source: 'logs',
      result: fromLogs.length ? `${fromLogs.length} pool-stats lines${stats ? ' (not used: an endpoint answered)' : ''}` : `no pool-stats lines in the tails of ${input.logLines.length} log files`,
    });
    if (!stats) {
      const newest = fromLogs[fromLogs.length - 1];
      const older = newest && fromLogs.find((e) => e.at !== null && newest.at !== null && newest.at - e.at >= 1000 && e.stats.source === newest.stats.source);
      if (newest && older && older.at !== null && newest.at !== null && older.stats.waitCount !== null && newest.stats.waitCount !== null) {
        stats = { ...newest.stats, waitCountDelta: newest.stats.waitCount - older.stats.waitCount, intervalMs: newest.at - older.at };
      } else {
        stats = lastStats[0] ?? (newest ? { ...newest.stats } : null);
      }
    }
    const pool: PoolFacts = { stats, tried };
    if (silent.length) pool.silentEndpoints = silent;
    const prom = last?.raw.fetched.find((f) => f.kind === 'prom-api' && f.body !== undefined);
    const history = prom && last ? poolHistory(prom.body ?? '', redactUrl(prom.source.split('/api/')[0] ?? prom.source), HISTORY_WINDOW_SEC, last.at / 1000) : null;
    if (history) pool.history = history;
    return { facts: { pool }, findings: poolFindings(pool), sources: tried };
  },
});

export function poolFindings(pool: PoolFacts): Finding[] {
  const s = pool.stats;
  if (!s) {
    return [
      {
        id: 'pool-unknown',
        step: 'db-stats',
        severity: 'info',
        title: 'no pool statistics',
        detail: `tried ${pool.tried.map((t) => `${t.source}: ${t.result}`).join('; ')}`,
      },
      ...silentFindings(pool),
    ];
  }
  const { atMax, waitingNow } = assessPool(s);
  // HikariCP, node-postgres and pgbouncer queue a request only when every connection is in use.
  const saturated = atMax || (WAITING_MEANS_FULL.has(s.format) && waitingNow);
  const max = poolMaxText(s);
  const waits = s.waitCountDelta !== undefined && s.intervalMs ? `WaitCount +${s.waitCountDelta} in ${(s.intervalMs / 1000).toFixed(1)} s` : s.waitCount !== null ? `WaitCount ${s.waitCount} since start` : '';
  const parts = [
    `in use ${s.inUse ?? 'not reported'}${max}`,
    `idle ${s.idle ?? 'not reported'}`,
    ...(s.waiting !== null ? [`${s.waiting} waiting`] : []),
    ...(waits ? [waits] : []),
    ...(s.waitDurationSec !== null && s.waitDurationSec >= 1 ? [`${Math.round(s.waitDurationSec)} s spent waiting since start`] : []),
  ];
  const rising = (s.waitCountDelta ?? 0) > 0 || (s.waiting ?? 0) > 0;
  const h = pool.history;
  const history: Finding[] = h
    ? [
        {
          id: 'pool-history',
          step: 'db-stats',
          severity: h.saturatedSince ? 'warning' : 'info',
          title: h.saturatedSince ? `DB pool at its max since ${h.saturatedSince}` : `DB pool over the last ${Math.round(h.windowSec / 60)} min`,
          detail:
            `max in use ${h.maxInUse ?? '?'} over ${h.points} scrapes` +
            (h.waitCountIncrease !== null ? `, WaitCount +${h.waitCountIncrease}` : '') +
            (h.lastScrapeAgeSec !== null && h.lastScrapeAgeSec > 60 ? `; no scrape for ${h.lastScrapeAgeSec} s (the process may not answer its /metrics)` : '') +
            ` (from ${h.source})`,
        },
      ]
    : [];
  return [
    ...history,
    {
      id: saturated ? 'pool-saturated' : 'pool-stats',
      step: 'db-stats',
      severity: saturated && rising ? 'critical' : saturated ? 'warning' : 'info',
      title: saturated
        ? atMax
          ? `DB pool at its max: ${s.inUse}/${s.maxOpen} in use`
          : `DB pool exhausted: ${s.waiting} requests waiting for a connection`
        : `DB pool ${s.inUse ?? 'in use not reported'}${max} in use`,
      detail: `${parts.join(', ')} (${s.format}, from ${redactUrl(s.source)})`,
    },
    ...silentFindings(pool),
  ];
}

function silentFindings(pool: PoolFacts): Finding[] {
  const silent = pool.silentEndpoints ?? [];
  if (silent.length === 0) return [];
  const used = pool.stats ? `pool statistics were read from ${redactUrl(pool.stats.source)} instead` : 'no other source gave pool statistics';
  return [
    {
      id: 'metrics-silent',
      step: 'db-stats',
      severity: 'warning',
      title: `${silent.join(', ')} did not answer in time`,
      detail: `an endpoint served by the same workers as the requests goes silent when they are all blocked; ${used}`,
    },
  ];
}

/** Drops credentials from a URL or DSN before it is shown. */
export function redactUrl(text: string): string {
  return text.replace(/(\/\/[^:/@\s]+:)[^@/\s]+@/g, '$1[REDACTED]@').replace(/(password=)[^\s&]+/gi, '$1[REDACTED]');
}
