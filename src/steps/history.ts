import { z } from 'zod';
import type { Finding, HistoryFacts, Onset } from '../core/facts.js';
import { defineStep } from '../engine/step.js';
import { promApiSeries, redactUrl } from './db-stats.js';

/** How far back the monitoring history is read. */
export const ONSET_WINDOW_SEC = 60 * 60;
/** Descriptor usage (open/max) above which descriptors count as climbing out of their normal range. */
export const ONSET_FD_RATIO = 0.8;
/** Mean request time above this multiple of its early baseline counts as abnormal. */
export const ONSET_LATENCY_FACTOR = 2;
/** Request rate above this multiple of its early baseline counts as a surge. */
export const ONSET_RATE_FACTOR = 1.5;

const Input = z.object({
  address: z.string(),
  port: z.number().int(),
  prometheusUrl: z.string({ error: 'not configured (no prometheus.url in the config)' }).url().describe('Prometheus server with the instance history'),
  httpTimeoutMs: z.number().int().positive(),
});
type Input = z.infer<typeof Input>;

type Point = [number, number];

/** Start of the abnormal stretch that reaches the last point, or null when the series ends normal. */
export function onsetOf(points: readonly Point[], abnormal: (v: number, t: number) => boolean): number | null {
  let start: number | null = null;
  for (const [t, v] of points) {
    if (abnormal(v, t)) start ??= t;
    else start = null;
  }
  return start;
}

/** Per-interval rate of a counter's increase (counter resets treated as a restart). */
export function rates(points: readonly Point[]): Point[] {
  const out: Point[] = [];
  for (let i = 1; i < points.length; i++) {
    const [t0, v0] = points[i - 1] as Point;
    const [t1, v1] = points[i] as Point;
    if (t1 <= t0) continue;
    out.push([t1, ((v1 >= v0 ? v1 - v0 : v1) / (t1 - t0))]);
  }
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s[Math.floor(s.length / 2)] as number) : 0;
}

/** Pure: which signals left their normal range, when, and which first — the write-up's step 7. */
export function onsets(body: string, source: string): HistoryFacts {
  const series = promApiSeries(body);
  const get = (name: string) => series.find((s) => s.name === name)?.values ?? [];
  const at = (t: number | null) => (t === null ? null : new Date(t * 1000).toISOString());
  const out: Onset[] = [];
  const byTime = (pts: Point[]) => new Map(pts.map(([t, v]) => [t, v]));

  const inUse = get('go_sql_in_use_connections');
  const maxOpen = byTime(get('go_sql_max_open_connections'));
  if (inUse.length) {
    const t = onsetOf(inUse, (v, ts) => {
      const m = maxOpen.get(ts);
      return m !== undefined && m > 0 && v >= m;
    });
    out.push({ signal: 'pool-saturated', at: at(t), detail: `in use reached the max (${[...maxOpen.values()].pop() ?? '?'})` });
  }
  const waits = rates(get('go_sql_wait_count_total'));
  if (waits.length) {
    const t = onsetOf(waits, (v) => v > 0);
    out.push({ signal: 'pool-waits', at: at(t), detail: `requests started waiting for a connection (${Math.round(waits[waits.length - 1]?.[1] ?? 0)}/s at the end)` });
  }
  const open = get('process_open_fds');
  const maxFds = byTime(get('process_max_fds'));
  if (open.length && maxFds.size) {
    const t = onsetOf(open, (v, ts) => {
      const m = maxFds.get(ts);
      return m !== undefined && m > 0 && v / m >= ONSET_FD_RATIO;
    });
    const last = open[open.length - 1];
    out.push({ signal: 'fds-climbing', at: at(t), detail: `descriptors above ${Math.round(ONSET_FD_RATIO * 100)}% of the limit (${last?.[1]}/${last ? maxFds.get(last[0]) : '?'} at the end)` });
  }
  const sum = rates(get('http_request_duration_seconds_sum'));
  const count = rates(get('http_request_duration_seconds_count'));
  if (sum.length >= 4 && count.length >= 4) {
    const counts = byTime(count);
    const mean: Point[] = sum.flatMap(([t, s]) => {
      const c = counts.get(t);
      return c && c > 0 ? [[t, s / c] as Point] : [];
    });
    const base = median(mean.slice(0, Math.max(2, Math.floor(mean.length / 5))).map(([, v]) => v));
    if (base > 0) {
      const t = onsetOf(mean, (v) => v > base * ONSET_LATENCY_FACTOR);
      out.push({ signal: 'latency-up', at: at(t), detail: `mean request time above ${ONSET_LATENCY_FACTOR}× its early ${Math.round(base * 1000)} ms` });
    }
  }
  const reqs = rates(get('http_requests_total'));
  if (reqs.length >= 4) {
    const base = median(reqs.slice(0, Math.max(2, Math.floor(reqs.length / 5))).map(([, v]) => v));
    if (base > 0) {
      const t = onsetOf(reqs, (v) => v > base * ONSET_RATE_FACTOR);
      out.push({ signal: 'traffic-surge', at: at(t), detail: `request rate above ${ONSET_RATE_FACTOR}× its early ${base.toFixed(1)}/s` });
    }
  }
  // Resets come from the host (node_exporter), not the service: any series named so will do.
  const resets = rates(get('node_netstat_Tcp_OutRsts'));
  if (resets.length >= 4) {
    const base = median(resets.slice(0, Math.max(2, Math.floor(resets.length / 5))).map(([, v]) => v));
    const t = onsetOf(resets, (v) => v > Math.max(1, base * ONSET_RATE_FACTOR * 2));
    out.push({ signal: 'resets-up', at: at(t), detail: `TCP resets sent above ${Math.max(1, base * ONSET_RATE_FACTOR * 2).toFixed(1)}/s (early ${base.toFixed(1)}/s)` });
  }
  const started = out.filter((o) => o.at !== null).sort((a, b) => Date.parse(a.at as string) - Date.parse(b.at as string));
  return { source, windowSec: ONSET_WINDOW_SEC, onsets: out, first: started[0]?.signal ?? null };
}

/** Pure: one range-vector answer holding the series of both. */
export function mergeMatrices(a: string, b: string | null): string {
  if (b === null) return a;
  try {
    const x = JSON.parse(a) as { data?: { result?: unknown[] } };
    const y = JSON.parse(b) as { data?: { result?: unknown[] } };
    if (x.data?.result && y.data?.result) x.data.result.push(...y.data.result);
    return JSON.stringify(x);
  } catch {
    return a;
  }
}

const NAMES = 'process_open_fds|process_max_fds|go_sql_in_use_connections|go_sql_max_open_connections|go_sql_wait_count_total|http_requests_total|http_request_duration_seconds_sum|http_request_duration_seconds_count';

/**
 * The instance's monitoring history from a Prometheus server: which signal left its normal range
 * first, and when. Works when the process itself no longer answers.
 */
export const historyStep = defineStep<Input, { body: string; source: string }>({
  id: 'history',
  description: 'read the last hour of monitoring: what went wrong first',
  input: Input,
  async collect(ctx) {
    const i = ctx.input;
    const sel = `{__name__=~"${NAMES}",instance="${i.address}:${i.port}"}[${ONSET_WINDOW_SEC}s]`;
    const url = `${i.prometheusUrl.replace(/\/$/, '')}/api/v1/query?query=${encodeURIComponent(sel)}`;
    // The host's resets come from node_exporter, a different target on the same address.
    const host = i.address.replace(/[.*+?^${}()|[\]\\]/g, '\\\\$&');
    const rstSel = `node_netstat_Tcp_OutRsts{instance=~"${host}:[0-9]+"}[${ONSET_WINDOW_SEC}s]`;
    const rstUrl = `${i.prometheusUrl.replace(/\/$/, '')}/api/v1/query?query=${encodeURIComponent(rstSel)}`;
    const opts = { timeoutMs: Math.max(i.httpTimeoutMs, 5000), signal: ctx.signal, maxBytes: 32 * 1024 * 1024 };
    const [res, rst] = await Promise.all([ctx.net.get(url, opts), ctx.net.get(rstUrl, opts).catch(() => null)]);
    if (res.status !== 200) throw new Error(`Prometheus answered HTTP ${res.status}`);
    return { body: mergeMatrices(res.body, rst?.status === 200 ? rst.body : null), source: redactUrl(i.prometheusUrl) };
  },
  analyze(samples) {
    const raw = samples[samples.length - 1]?.raw;
    if (!raw) return { facts: {}, findings: [] };
    const history = onsets(raw.body, raw.source);
    const started = history.onsets.filter((o) => o.at !== null).sort((a, b) => Date.parse(a.at as string) - Date.parse(b.at as string));
    const findings: Finding[] = [
      {
        id: 'history-onset',
        step: 'history',
        severity: started.length ? 'warning' : 'info',
        title: started.length ? `first out of range: ${started[0]?.signal} at ${started[0]?.at}` : `no signal left its normal range in the last ${ONSET_WINDOW_SEC / 60} min`,
        detail: history.onsets.length ? started.map((o) => `${o.at} ${o.signal}: ${o.detail}`).join('; ') || 'all signals normal' : `no series for this instance at ${raw.source}`,
      },
    ];
    return { facts: { history }, findings };
  },
});
