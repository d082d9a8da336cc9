import { describe, it, expect } from 'vitest';
import { scanLogLines, latencyTrend, redactSecrets, durationFromLine } from '../../../src/steps/parse/logs.js';
import { fixture } from './fixtures.js';

const lines = (name: string) => fixture(name).split('\n').filter((l) => l !== '');

describe('scanLogLines', () => {
  it('counts signatures in realistic app and error logs', () => {
    const r = scanLogLines([...lines('logs/app.log'), ...lines('logs/error.log')]);
    // 2 Go accept4 EMFILE lines + nginx "(24: Too many open files)"
    expect(r.signatures.emfile).toBe(3);
    expect(r.signatures.acceptError).toBe(2);
    // Go "waiting for a connection", nginx "Connection timed out", HikariCP, node-postgres
    expect(r.signatures.poolTimeout).toBe(4);
    // duration=523ms, duration=1.2s; "retrying in 5ms" is a delay, not a duration
    expect(r.durationsMs).toEqual([523, 1200]);
  });

  it('matches each pool-timeout flavour on its own', () => {
    const yes = [
      'HikariPool-1 - Connection is not available, request timed out after 30000ms.',
      'Error: timeout exceeded when trying to connect',
      'pq: context deadline exceeded while waiting for a connection',
      'sql: waiting for an idle connection',
      'KnexTimeoutError: Knex: Timeout acquiring a connection. The pool is probably full.',
      'failed to acquire connection from pool: acquire timeout',
      'Npgsql.NpgsqlException: The connection pool has been exhausted, either raise MaxPoolSize or Timeout',
      'System.InvalidOperationException: ConnectionTimeout expired',
    ];
    const no = ['GET /api/orders 200 12ms', 'connection established', 'pool size set to 10', 'timeout=30s configured for http client'];
    expect(scanLogLines(yes).signatures.poolTimeout).toBe(yes.length);
    expect(scanLogLines(no).signatures.poolTimeout).toBe(0);
  });

  it('reads the nginx access log rt= and sees latency rising', () => {
    const r = scanLogLines(lines('logs/access.log'));
    expect(r.durationsMs).toHaveLength(40);
    expect(r.durationsMs.slice(0, 20).every((d) => d >= 10 && d <= 30)).toBe(true);
    expect(r.durationsMs.slice(20).every((d) => d >= 400 && d <= 2500)).toBe(true);
    const t = latencyTrend(r.durationsMs);
    expect(t.samples).toBe(40);
    expect(t.trend).toBe('rising');
    expect(t.lateP50Ms! / t.earlyP50Ms!).toBeGreaterThan(10);
  });

  it('one duration per line in every supported form', () => {
    const cases: [string, number | null][] = [
      ['level=info msg=done duration=523ms', 523],
      ['level=info msg=done duration=1.2s', 1200],
      ['dur=12ms path=/x', 12],
      ['"GET / HTTP/1.1" 200 612 rt=0.123 urt="0.120"', 123],
      ['request_time=2.5 status=504', 2500],
      ['{"level":"info","duration_ms":123,"took":"x"}', 123],
      ['{"request_time":"0.050"}', 50],
      ['query took 1.5s', 1500],
      ['GET /api/orders 200 523ms', 523],
      ['GET /api/orders 200 1.25s', 1250],
      ['latency=1m2s', 62000],
      ['retrying in 5ms', null],
      ['urt=0.5', null],
      ['no numbers here', null],
      ['duration=523', null],
    ];
    for (const [line, ms] of cases) {
      const d = durationFromLine(line);
      if (ms === null) expect(d, line).toBeNull();
      else expect(d, line).toBeCloseTo(ms, 6);
    }
    expect(scanLogLines(['duration=5ms took 9s 7ms']).durationsMs).toEqual([5]);
  });
});

describe('latencyTrend', () => {
  it('unknown below 6 samples', () => {
    expect(latencyTrend([])).toEqual({ samples: 0, earlyP50Ms: null, lateP50Ms: null, trend: 'unknown' });
    expect(latencyTrend([1, 2, 3, 400, 500])).toMatchObject({ samples: 5, trend: 'unknown', earlyP50Ms: 1.5, lateP50Ms: 400 });
  });

  it('rising / falling / flat with the 1.5x and 20 ms thresholds', () => {
    expect(latencyTrend([10, 10, 10, 100, 100, 100]).trend).toBe('rising');
    expect(latencyTrend([100, 100, 100, 10, 10, 10]).trend).toBe('falling');
    // 1.5x but only +10 ms: flat
    expect(latencyTrend([10, 10, 10, 20, 20, 20]).trend).toBe('flat');
    // +30 ms but only 1.1x: flat
    expect(latencyTrend([300, 300, 300, 330, 330, 330]).trend).toBe('flat');
    expect(latencyTrend([1, 2, 3, 4, 5, 6, 7])).toEqual({ samples: 7, earlyP50Ms: 2, lateP50Ms: 5.5, trend: 'flat' });
    expect(latencyTrend([NaN, -1, Infinity, 5, 5, 5, 5, 5, 5]).samples).toBe(6);
  });
});

describe('redactSecrets', () => {
  const cases: [string, string][] = [
    ['dsn=postgres://orders:S3cr3tPass@db.internal:5432/orders', 'dsn=postgres://orders:[REDACTED]@db.internal:5432/orders'],
    ['password=hunter2 user=bob', 'password=[REDACTED] user=bob'],
    ['PGPASSWORD=abc', 'PGPASSWORD=[REDACTED]'],
    ['passwd: x1 pwd=y2', 'passwd: [REDACTED] pwd=[REDACTED]'],
    ['client_secret=abc&x=1', 'client_secret=[REDACTED]&x=1'],
    ['?access_token=abc.def&y=2', '?access_token=[REDACTED]&y=2'],
    ['apikey=K1 api_key=K2 api-key=K3', 'apikey=[REDACTED] api_key=[REDACTED] api-key=[REDACTED]'],
    ['{"password":"p@ss \\"w\\"","user":"u"}', '{"password":"[REDACTED]","user":"u"}'],
    ['Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.abc', 'Authorization: Bearer [REDACTED]'],
    ['authorization=Basic dXNlcjpwYXNz', 'authorization=Basic [REDACTED]'],
    ['curl -H "X: 1" with Bearer abcdefghijkl', 'curl -H "X: 1" with Bearer [REDACTED]'],
    ['aws key AKIAIOSFODNN7EXAMPLE used', 'aws key [REDACTED] used'],
    ['slack xoxb-123456789012-abcdefABCDEF posted', 'slack [REDACTED] posted'],
    ['GET /api/orders 200 12ms', 'GET /api/orders 200 12ms'],
    ['max_tokens=100 tokenizer ok', 'max_tokens=100 tokenizer ok'],
  ];
  for (const [input, want] of cases) {
    it(input, () => {
      expect(redactSecrets(input)).toBe(want);
      expect(redactSecrets(want)).toBe(want);
    });
  }

  it('redacts the DSN in the app log fixture', () => {
    const out = lines('logs/app.log').map(redactSecrets).join('\n');
    expect(out).not.toContain('S3cr3tPass');
    expect(out).toContain('postgres://orders:[REDACTED]@db.internal');
  });
});

describe('redactSecrets on command lines', () => {
  it('hides the word after a secret-named flag, and nothing else', () => {
    const argv = 'node svc.js --database-url postgres://app:s3cret@db:5432/x --password hunter2 --api-key K9 -token t0k --verbose --port 2133';
    const out = redactSecrets(argv);
    for (const secret of ['s3cret', 'hunter2', 'K9', 't0k']) expect(out).not.toContain(secret);
    expect(out).toContain('--verbose --port 2133');
    expect(out).toContain('--password [REDACTED]');
  });
});
