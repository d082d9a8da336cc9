import { describe, it, expect } from 'vitest';
import { parsePrometheusText } from '../../../src/steps/parse/prometheus.js';
import {
  poolFromPrometheus,
  poolFromExpvar,
  poolFromLogLine,
  poolFromPgStatActivity,
  parseGoDuration,
} from '../../../src/steps/parse/pool.js';
import { fixture } from './fixtures.js';

const prom = (name: string) => parsePrometheusText(fixture(name)).samples;

describe('poolFromPrometheus', () => {
  it('Go DBStats collector: picks the saturated db_name', () => {
    expect(poolFromPrometheus(prom('prom-go-sql.txt'), 'http://127.0.0.1:2133/metrics')).toEqual({
      source: 'http://127.0.0.1:2133/metrics',
      format: 'go_sql',
      maxOpen: 2,
      open: 2,
      inUse: 2,
      idle: 0,
      waiting: null,
      waitCount: 312,
      waitDurationSec: 81.234,
    });
  });

  it('HikariCP via Micrometer', () => {
    expect(poolFromPrometheus(prom('prom-hikaricp-micrometer.txt'), 'm')).toEqual({
      source: 'm',
      format: 'hikaricp',
      maxOpen: 10,
      open: 10,
      inUse: 10,
      idle: 0,
      waiting: 37,
      waitCount: null,
      waitDurationSec: null,
    });
  });

  it('node-postgres gauges', () => {
    expect(poolFromPrometheus(prom('prom-node-postgres.txt'), 'm')).toEqual({
      source: 'm',
      format: 'node-postgres',
      maxOpen: 20,
      open: 20,
      inUse: 20,
      idle: 0,
      waiting: 58,
      waitCount: null,
      waitDurationSec: null,
    });
  });

  it('null without pool metrics; max 0 (unlimited) → null', () => {
    expect(poolFromPrometheus(parsePrometheusText('go_goroutines 5\n').samples, 's')).toBeNull();
    expect(poolFromPrometheus([], 's')).toBeNull();
    const p = poolFromPrometheus(
      parsePrometheusText('go_sql_max_open_connections{db_name="x"} 0\ngo_sql_in_use_connections{db_name="x"} 7\n').samples,
      's',
    );
    expect(p?.maxOpen).toBeNull();
    expect(p?.inUse).toBe(7);
  });
});

describe('poolFromExpvar', () => {
  it('finds DBStats in /debug/vars next to cmdline and memstats', () => {
    const json: unknown = JSON.parse(fixture('expvar-debug-vars.json'));
    expect(poolFromExpvar(json, 'http://127.0.0.1:2133/debug/vars')).toEqual({
      source: 'http://127.0.0.1:2133/debug/vars',
      format: 'expvar',
      maxOpen: 2,
      open: 2,
      inUse: 2,
      idle: 0,
      waiting: null,
      waitCount: 312,
      waitDurationSec: 81.234,
    });
  });

  it('depth limit, unlimited max, duration strings, nothing found', () => {
    const stats = { MaxOpenConnections: 0, OpenConnections: 4, InUse: 1, Idle: 3, WaitCount: 0, WaitDuration: '1m2.5s' };
    expect(poolFromExpvar({ a: { b: { c: stats } } }, 's')).toMatchObject({ maxOpen: null, inUse: 1, waitDurationSec: 62.5 });
    expect(poolFromExpvar({ a: { b: { c: { d: { e: stats } } } } }, 's')).toBeNull();
    expect(poolFromExpvar(null, 's')).toBeNull();
    expect(poolFromExpvar('x', 's')).toBeNull();
    expect(poolFromExpvar([stats], 's')).toBeNull();
  });

  it('parseGoDuration', () => {
    expect(parseGoDuration('1h2m3.5s')).toBe(3723.5);
    expect(parseGoDuration('500ms')).toBe(0.5);
    expect(parseGoDuration('1.5µs')).toBeCloseTo(1.5e-6);
    expect(parseGoDuration('0s')).toBe(0);
    expect(parseGoDuration('0')).toBe(0);
    expect(parseGoDuration('5')).toBeNull();
    expect(parseGoDuration('1x')).toBeNull();
  });
});

describe('poolFromLogLine', () => {
  const lines = fixture('logs/app.log').split('\n');

  it('reads the periodic dbstats lines', () => {
    const stats = lines.map((l) => poolFromLogLine(l, 'log:/var/log/orders/app.log')).filter((p) => p !== null);
    expect(stats).toHaveLength(2);
    expect(stats[0]).toEqual({
      source: 'log:/var/log/orders/app.log',
      format: 'expvar',
      maxOpen: 2,
      open: 2,
      inUse: 2,
      idle: 0,
      waiting: null,
      waitCount: 312,
      waitDurationSec: 81.234,
    });
    expect(stats[1]).toMatchObject({ waitCount: 498, waitDurationSec: 134.5 });
  });

  it("reads Go's %+v form and ignores lines without dbstats", () => {
    const line =
      '2026/11/25 04:50:00 dbstats {MaxOpenConnections:2 OpenConnections:2 InUse:2 Idle:0 WaitCount:312 WaitDuration:1m21.234s MaxIdleClosed:0 MaxIdleTimeClosed:0 MaxLifetimeClosed:0}';
    expect(poolFromLogLine(line, 's')).toMatchObject({ maxOpen: 2, inUse: 2, idle: 0, waitCount: 312, waitDurationSec: 81.234 });
    expect(poolFromLogLine('INFO healthcheck ok', 's')).toBeNull();
    expect(poolFromLogLine('dbstats {"InUse":2}', 's')).toBeNull();
    expect(poolFromLogLine('dbstats {"MaxOpenConnections":2,"InUse":', 's')).toBeNull();
  });
});

describe('poolFromPgStatActivity', () => {
  it('sums states against max_connections', () => {
    const text = 'active|3\nidle|5\nidle in transaction|2\nidle in transaction (aborted)|1\n|4\nfastpath function call|0\n';
    expect(poolFromPgStatActivity(text, 100, 'psql')).toEqual({
      source: 'psql',
      format: 'pg_stat_activity',
      maxOpen: 100,
      open: 15,
      inUse: 6,
      idle: 5,
      waiting: null,
      waitCount: null,
      waitDurationSec: null,
    });
  });

  it('null when nothing parses', () => {
    expect(poolFromPgStatActivity('', 100, 's')).toBeNull();
    expect(poolFromPgStatActivity('psql: error: connection refused\n', 100, 's')).toBeNull();
    expect(poolFromPgStatActivity('active|1', Number.NaN, 's')?.maxOpen).toBeNull();
  });
});
