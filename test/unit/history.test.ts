import { describe, expect, it } from 'vitest';
import { onsetOf, onsets, rates } from '../../src/steps/history.js';

/** A Prometheus range-vector answer with the given series, one point a second from t0. */
function matrix(t0: number, series: Record<string, number[]>): string {
  return JSON.stringify({
    status: 'success',
    data: {
      resultType: 'matrix',
      result: Object.entries(series).map(([name, vals]) => ({ metric: { __name__: name, instance: '10.0.0.35:2133' }, values: vals.map((v, i) => [t0 + i, String(v)]) })),
    },
  });
}

describe('history onsets', () => {
  it('onsetOf returns the start of the abnormal stretch that reaches the end, or null', () => {
    expect(onsetOf([[1, 0], [2, 5], [3, 0], [4, 5], [5, 6]], (v) => v > 1)).toBe(4);
    expect(onsetOf([[1, 5], [2, 0]], (v) => v > 1)).toBeNull();
  });

  it('rates treats a counter reset as a restart', () => {
    expect(rates([[0, 10], [2, 20], [3, 5]])).toEqual([[2, 5], [3, 5]]);
  });

  it('names the pool as the first signal out of range when it saturated before descriptors climbed', () => {
    const t0 = 1_764_000_000;
    const body = matrix(t0, {
      go_sql_max_open_connections: Array(12).fill(2),
      go_sql_in_use_connections: [0, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2],
      go_sql_wait_count_total: [0, 0, 0, 0, 5, 15, 30, 50, 80, 120, 160, 200],
      process_max_fds: Array(12).fill(128),
      process_open_fds: [20, 20, 21, 22, 30, 50, 70, 95, 110, 120, 127, 128],
      http_request_duration_seconds_sum: [0, 0.1, 0.2, 0.3, 0.8, 2, 4, 7, 11, 16, 22, 29],
      http_request_duration_seconds_count: [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110],
    });
    const h = onsets(body, 'http://prom:9090');
    const at = (s: string) => h.onsets.find((o) => o.signal === s)?.at;
    expect(h.first).toBe('pool-saturated');
    expect(at('pool-saturated')).toBe(new Date((t0 + 3) * 1000).toISOString());
    expect(at('pool-waits')).toBe(new Date((t0 + 4) * 1000).toISOString());
    expect(at('fds-climbing')).toBe(new Date((t0 + 8) * 1000).toISOString());
    expect(Date.parse(at('latency-up') ?? '')).toBeGreaterThan(Date.parse(at('pool-saturated') ?? ''));
  });

  it('says nothing went wrong when every series stays in range, and survives garbage', () => {
    const body = matrix(1_764_000_000, { go_sql_max_open_connections: [10, 10, 10], go_sql_in_use_connections: [1, 2, 1], process_max_fds: [1024, 1024, 1024], process_open_fds: [30, 31, 30] });
    expect(onsets(body, 'p').first).toBeNull();
    expect(onsets('not json', 'p')).toEqual({ source: 'p', windowSec: 3600, onsets: [], first: null });
  });
});

describe('history: resets from the host', () => {
  it('merges the node_exporter answer and finds when resets rose', async () => {
    const { mergeMatrices } = await import('../../src/steps/history.js');
    const t0 = 1_764_000_000;
    const svc = matrix(t0, { go_sql_max_open_connections: Array(10).fill(2), go_sql_in_use_connections: [0, 0, 2, 2, 2, 2, 2, 2, 2, 2] });
    const host = matrix(t0, { node_netstat_Tcp_OutRsts: [0, 1, 2, 3, 4, 5, 6, 40, 80, 120] });
    const h = onsets(mergeMatrices(svc, host), 'p');
    expect(h.onsets.find((o) => o.signal === 'resets-up')?.at).toBe(new Date((t0 + 7) * 1000).toISOString());
    expect(h.first).toBe('pool-saturated');
    expect(mergeMatrices(svc, 'garbage')).toBe(svc);
  });
});
