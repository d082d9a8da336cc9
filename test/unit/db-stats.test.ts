import { describe, it, expect } from 'vitest';
import type { Sample } from '../../src/engine/step.js';
import { dbStatsStep, poolFromFetched, poolFromLogs, redactUrl } from '../../src/steps/db-stats.js';
import { fixture } from './parse/fixtures.js';

type Raw = Parameters<typeof dbStatsStep.analyze>[0][number]['raw'];
type Fetched = Raw['fetched'][number];

const T0 = Date.parse('2026-11-25T05:00:00.000Z');
const METRICS = 'http://127.0.0.1:2133/metrics';
const VARS = 'http://127.0.0.1:2133/debug/vars';
const input = (over: Record<string, unknown> = {}) =>
  dbStatsStep.input.parse({ address: '127.0.0.1', port: 2133, httpTimeoutMs: 1000, ...over });
const samples = (...fetched: Fetched[][]): Sample<Raw>[] => fetched.map((f, i) => ({ raw: { fetched: f }, at: T0 + i * 2000 }));
const promGo = fixture('prom-go-sql.txt');
const withWaitCount = (text: string, n: number) => text.replace(/^(go_sql_wait_count_total\{[^}]*\}) 312$/m, `$1 ${n}`);
const ids = (findings: { id: string; severity: string }[]) => findings.map((f) => `${f.id}:${f.severity}`);

describe('db-stats analyze', () => {
  it('a source in both samples → WaitCount delta over our interval; saturated and waiting → critical', () => {
    const later = withWaitCount(promGo, 400);
    expect(later).not.toBe(promGo);
    const { facts, findings } = dbStatsStep.analyze(
      samples([{ source: METRICS, kind: 'prom-text', body: promGo }], [{ source: METRICS, kind: 'prom-text', body: later }]),
      input(),
    );
    expect(facts.pool?.stats).toEqual({
      source: METRICS,
      format: 'go_sql',
      maxOpen: 2,
      open: 2,
      inUse: 2,
      idle: 0,
      waiting: null,
      waitCount: 400,
      waitDurationSec: 81.234,
      waitCountDelta: 88,
      intervalMs: 2000,
    });
    expect(facts.pool?.tried).toEqual([
      { source: METRICS, result: 'pool statistics found' },
      { source: 'logs', result: 'no pool-stats lines in the tails of 0 log files' },
    ]);
    expect(ids(findings)).toEqual(['pool-saturated:critical']);
    expect(findings[0]?.title).toBe('DB pool at its max: 2/2 in use');
    expect(findings[0]?.detail).toContain('WaitCount +88 in 2.0 s');
  });

  it('saturated with no new waits → warning', () => {
    const { findings } = dbStatsStep.analyze(
      samples([{ source: METRICS, kind: 'prom-text', body: promGo }], [{ source: METRICS, kind: 'prom-text', body: promGo }]),
      input(),
    );
    expect(ids(findings)).toEqual(['pool-saturated:warning']);
  });

  it('expvar /debug/vars in both samples', () => {
    const body = fixture('expvar-debug-vars.json');
    const { facts } = dbStatsStep.analyze(
      samples(
        [{ source: METRICS, kind: 'prom-text', error: 'HTTP 404' }, { source: VARS, kind: 'expvar', body }],
        [{ source: METRICS, kind: 'prom-text', error: 'HTTP 404' }, { source: VARS, kind: 'expvar', body }],
      ),
      input(),
    );
    expect(facts.pool?.stats).toMatchObject({ source: VARS, format: 'expvar', inUse: 2, maxOpen: 2, waitCountDelta: 0 });
    expect(facts.pool?.tried).toEqual([
      { source: METRICS, result: 'HTTP 404' },
      { source: VARS, result: 'pool statistics found' },
      { source: 'logs', result: 'no pool-stats lines in the tails of 0 log files' },
    ]);
  });

  it('no HTTP stats: dbstats log lines give the delta from their own time stamps', () => {
    const lines = fixture('logs/app.log').split('\n').filter(Boolean);
    const down: Fetched[] = [
      { source: METRICS, kind: 'prom-text', error: 'ECONNRESET (the process may be out of descriptors)' },
      { source: VARS, kind: 'expvar', error: 'ECONNRESET (the process may be out of descriptors)' },
    ];
    const { facts, findings } = dbStatsStep.analyze(samples(down, down), input({ logLines: [{ path: '/var/log/orders/app.log', lines }] }));
    expect(facts.pool?.stats).toMatchObject({
      source: 'log:/var/log/orders/app.log',
      inUse: 2,
      maxOpen: 2,
      waitCount: 498,
      waitCountDelta: 498 - 312,
      intervalMs: 60_000,
    });
    expect(facts.pool?.tried.at(-1)).toEqual({ source: 'logs', result: '2 pool-stats lines' });
    expect(ids(findings)).toEqual(['pool-saturated:critical']);
    expect(findings[0]?.detail).toContain('WaitCount +186 in 60.0 s');
    expect(findings[0]?.detail).toContain('from log:/var/log/orders/app.log');
  });

  it('one dbstats line: stats without a rate', () => {
    const line = fixture('logs/app.log').split('\n').find((l) => l.includes('dbstats'))!;
    const { facts } = dbStatsStep.analyze(samples([]), input({ logLines: [{ path: '/a.log', lines: [line] }] }));
    expect(facts.pool?.stats).toMatchObject({ source: 'log:/a.log', waitCount: 312 });
    expect(facts.pool?.stats?.waitCountDelta).toBeUndefined();
  });

  it('a single sample: stats without a delta', () => {
    const { facts, findings } = dbStatsStep.analyze(samples([{ source: METRICS, kind: 'prom-text', body: promGo }]), input());
    expect(facts.pool?.stats).toMatchObject({ source: METRICS, waitCount: 312 });
    expect(facts.pool?.stats?.waitCountDelta).toBeUndefined();
    expect(findings[0]?.detail).toContain('WaitCount 312');
  });

  it('nothing anywhere → pool-unknown listing every source tried', () => {
    const fetched: Fetched[] = [
      { source: METRICS, kind: 'prom-text', body: 'go_goroutines 12\n' },
      { source: VARS, kind: 'expvar', body: '<html>' },
      { source: 'pg_stat_activity', kind: 'pg', error: 'psql: not installed (not found in PATH)' },
    ];
    const { facts, findings } = dbStatsStep.analyze(samples(fetched, fetched), input());
    expect(facts.pool?.stats).toBeNull();
    expect(facts.pool?.tried).toEqual([
      { source: METRICS, result: 'no pool series in the answer' },
      { source: VARS, result: 'not JSON' },
      { source: 'pg_stat_activity', result: 'psql: not installed (not found in PATH)' },
      { source: 'logs', result: 'no pool-stats lines in the tails of 0 log files' },
    ]);
    expect(ids(findings)).toEqual(['pool-unknown:info']);
    expect(findings[0]?.detail).toBe(
      `tried ${METRICS}: no pool series in the answer; ${VARS}: not JSON; pg_stat_activity: psql: not installed (not found in PATH); logs: no pool-stats lines in the tails of 0 log files`,
    );
  });

  it('pg_stat_activity against max_connections', () => {
    const f: Fetched = { source: 'pg_stat_activity', kind: 'pg', body: 'active|3\nidle|5\n' };
    const { facts } = dbStatsStep.analyze(samples([f], [f]), input({ postgres: { dsn: 'postgres://x@db/y', maxConnections: 8 } }));
    expect(facts.pool?.stats).toMatchObject({ format: 'pg_stat_activity', maxOpen: 8, open: 8, inUse: 3, idle: 5 });
  });

  it('credentials in source URLs are redacted in facts and findings', () => {
    const src = 'http://admin:hunter2@127.0.0.1:9102/metrics';
    const { facts, findings } = dbStatsStep.analyze(samples([{ source: src, kind: 'prom-text', body: promGo }], [{ source: src, kind: 'prom-text', body: promGo }]), input());
    expect(JSON.stringify(facts.pool?.tried)).not.toContain('hunter2');
    expect(JSON.stringify(findings)).not.toContain('hunter2');
  });

  it('poolFromFetched / poolFromLogs', () => {
    expect(poolFromFetched({ source: 's', kind: 'prom-text', error: 'HTTP 500' })).toEqual({ stats: null, result: 'HTTP 500' });
    expect(poolFromLogs([{ path: '/x', lines: ['no time dbstats {"MaxOpenConnections":2,"OpenConnections":2,"InUse":2,"Idle":0,"WaitCount":1,"WaitDuration":0}'] }])).toEqual([
      { stats: expect.objectContaining({ waitCount: 1, source: 'log:/x' }), at: null },
    ]);
  });
});

describe('redactUrl', () => {
  it('hides passwords in URLs', () => {
    expect(redactUrl('postgres://orders:S3cr3tPass@db.internal:5432/orders?sslmode=disable')).toBe('postgres://orders:[REDACTED]@db.internal:5432/orders?sslmode=disable');
    expect(redactUrl('http://admin:pw@127.0.0.1:9090/api/v1/query')).toBe('http://admin:[REDACTED]@127.0.0.1:9090/api/v1/query');
  });

  it('hides password= in DSNs and query strings', () => {
    expect(redactUrl('host=db user=app password=s3cret dbname=x')).toBe('host=db user=app password=[REDACTED] dbname=x');
    expect(redactUrl('postgres://db/x?user=a&password=s3cret&sslmode=require')).toBe('postgres://db/x?user=a&password=[REDACTED]&sslmode=require');
    expect(redactUrl('PASSWORD=s3cret')).toBe('PASSWORD=[REDACTED]');
  });

  it('leaves URLs without credentials alone', () => {
    for (const u of ['http://127.0.0.1:2133/metrics', 'postgres://triage_ro@db-1.example.net:5432/checkout', 'pg_stat_activity']) expect(redactUrl(u)).toBe(u);
  });
});

describe('db-stats: endpoints that go silent', () => {
  it('every endpoint timing out → no pool statistics, and a finding that says the endpoints went silent', () => {
    const silent: Fetched[] = [
      { source: 'http://svc:8080/metrics', kind: 'prom-text', error: 'no answer within 3000 ms' },
      { source: 'http://svc:8080/actuator/prometheus', kind: 'prom-text', error: 'no answer within 3000 ms' },
      { source: 'http://svc:8080/debug/vars', kind: 'expvar', error: 'HTTP 404' },
    ];
    const { facts, findings } = dbStatsStep.analyze(samples(silent, silent), input());
    expect(facts.pool?.stats).toBeNull();
    expect(facts.pool?.silentEndpoints).toEqual(['http://svc:8080/metrics', 'http://svc:8080/actuator/prometheus']);
    expect(findings.map((f) => f.id)).toEqual(['pool-unknown', 'metrics-silent']);
    expect(findings[1]?.detail).toMatch(/served by the same workers as the requests goes silent when they are all blocked; no other source gave pool statistics/);
  });
});
