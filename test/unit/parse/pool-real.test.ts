/**
 * Pool statistics parsed from output captured from the real libraries (test/fixtures/pool/, with the
 * scripts that made them in test/fixtures/capture/pool-*.{sh,py} and versions in *-meta.json).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { scanLogLines } from '../../../src/steps/parse/logs.js';
import { logLineTime, poolFromExpvar, poolFromLogLine, poolFromPgbouncer, poolFromPrometheus } from '../../../src/steps/parse/pool.js';
import { parsePrometheusText } from '../../../src/steps/parse/prometheus.js';

const fixture = (name: string) => readFileSync(join(import.meta.dirname, '../../fixtures/pool', name), 'utf8');
const prom = (name: string) => poolFromPrometheus(parsePrometheusText(fixture(name)).samples, `http://svc/${name}`);
const logLines = (name: string) => fixture(name).split('\n').filter(Boolean);
const lastFromLog = (name: string) =>
  logLines(name)
    .map((l) => poolFromLogLine(l, `log:${name}`))
    .filter((p) => p !== null)
    .at(-1);

describe('node-postgres pools as npm exporters publish them', () => {
  it('@christiangalsterer/node-postgres-prometheus-exporter, saturated: in-use, max and the waiting queue', () => {
    expect(prom('node-exporter-saturated.txt')).toMatchObject({ format: 'node-postgres', maxOpen: 2, open: 2, inUse: 2, idle: 0, waiting: 660 });
  });
  it('the same exporter on a healthy service', () => {
    expect(prom('node-exporter-healthy.txt')).toMatchObject({ format: 'node-postgres', maxOpen: 10, inUse: 0, idle: 1, waiting: 0 });
  });
  it('a pool made from a connectionString: the exporter publishes no pool series, and none are invented', () => {
    expect(prom('node-exporter-connstring-healthy.txt')).toBeNull();
  });
  it('prom-client gauges named after pg.Pool counts', () => {
    expect(prom('node-prom-client-saturated.txt')).toMatchObject({ format: 'node-postgres', maxOpen: 2, open: 2, inUse: 2, idle: 0, waiting: 671 });
    expect(prom('node-prom-client-healthy.txt')).toMatchObject({ format: 'node-postgres', maxOpen: 10, inUse: 0, idle: 1, waiting: 0 });
  });
});

describe('pgbouncer SHOW POOLS', () => {
  it('saturated, aligned and unaligned: the waiting clients and the busy servers of the application pool', () => {
    for (const form of ['aligned', 'unaligned']) {
      expect(poolFromPgbouncer(fixture(`pgbouncer-show-pools-saturated-${form}.txt`), 'pgbouncer')).toMatchObject({ format: 'pgbouncer', inUse: 2, waiting: 4, idle: 0, maxOpen: null });
    }
  });
  it('idle', () => {
    expect(poolFromPgbouncer(fixture('pgbouncer-show-pools-idle-aligned.txt'), 'pgbouncer')).toMatchObject({ inUse: 0, waiting: 0, idle: 1 });
  });
  it("the service's database when configured; a database pgbouncer does not list gives nothing", () => {
    expect(poolFromPgbouncer(fixture('pgbouncer-show-pools-saturated-aligned.txt'), 'pgbouncer', 'test')).toMatchObject({ waiting: 4 });
    expect(poolFromPgbouncer(fixture('pgbouncer-show-pools-saturated-aligned.txt'), 'pgbouncer', 'orders')).toBeNull();
  });
  it('without its header the columns are unknown: nothing is guessed', () => {
    expect(poolFromPgbouncer(fixture('pgbouncer-show-pools-saturated-tuples.txt'), 'pgbouncer')).toBeNull();
  });
});

describe('SQLAlchemy QueuePool.status() logged by an application', () => {
  it('saturated: every base connection and the overflow checked out, the maximum is not printed', () => {
    expect(lastFromLog('python-sqlalchemy-saturated.txt')).toMatchObject({ format: 'sqlalchemy', inUse: 7, idle: 0, open: 7, maxOpen: null, waiting: null });
  });
  it('healthy', () => {
    expect(lastFromLog('python-sqlalchemy-healthy.txt')).toMatchObject({ format: 'sqlalchemy', inUse: 0, idle: 3 });
  });
});

describe('Go database/sql pools as Go services publish them', () => {
  it("client_golang's DBStats collector, saturated, healthy, and MaxOpenConnections 0", () => {
    expect(prom('go-prometheus-saturated.txt')).toMatchObject({ format: 'go_sql', maxOpen: 2, open: 2, inUse: 2, idle: 0, waitCount: 813 });
    expect(prom('go-prometheus-healthy.txt')).toMatchObject({ format: 'go_sql', maxOpen: 20, inUse: 0, waitCount: 0 });
    const unlimited = prom('go-prometheus-unlimited.txt');
    expect(unlimited).toMatchObject({ maxOpen: null, unlimited: true });
    expect(unlimited?.inUse).toBeGreaterThan(0);
  });
  it('expvar /debug/vars (WaitDuration in nanoseconds)', () => {
    const sat = poolFromExpvar(JSON.parse(fixture('go-expvar-saturated.json')), 'vars');
    expect(sat).toMatchObject({ format: 'expvar', maxOpen: 2, inUse: 2, idle: 0 });
    expect(sat?.waitCount).toBeGreaterThan(0);
    expect(sat?.waitDurationSec).toBeGreaterThan(1);
    expect(poolFromExpvar(JSON.parse(fixture('go-expvar-healthy.json')), 'vars')).toMatchObject({ maxOpen: 20, waitCount: 0 });
  });
  for (const format of ['log-plusv', 'log-v', 'logfmt', 'json']) {
    it(`db.Stats() in log lines (${format}): every stats line parses, with its time stamp, and the counter rises`, () => {
      const lines = logLines(`go-${format}-stats-saturated.txt`);
      const parsed = lines.map((l) => ({ p: poolFromLogLine(l, 'log'), at: logLineTime(l) }));
      expect(parsed.every((x) => x.p !== null && x.at !== null), lines.join('\n')).toBe(true);
      expect(parsed[0]?.p).toMatchObject({ format: 'expvar', maxOpen: 2, inUse: 2, idle: 0 });
      const first = parsed[0]!;
      const last = parsed.at(-1)!;
      expect(last.p!.waitCount! - first.p!.waitCount!).toBeGreaterThan(0);
      expect(last.at! - first.at!).toBeGreaterThanOrEqual(1000 * (lines.length - 2));
      expect(lastFromLog(`go-${format}-healthy.txt`)).toMatchObject({ maxOpen: 20, waitCount: 0 });
      // the error lines between the stats lines are not pool statistics
      expect(logLines(`go-${format}-saturated.txt`).filter((l) => poolFromLogLine(l, 'log') !== null).length).toBeGreaterThan(0);
    });
  }
  it('logfmt with MaxOpenConnections 0 is unlimited, by the source\'s word', () => {
    expect(lastFromLog('go-logfmt-unlimited.txt')).toMatchObject({ maxOpen: null, unlimited: true });
  });
});

describe('HikariCP pools as Java services publish them', () => {
  it("Micrometer's hikaricp_* names at /actuator/prometheus and /metrics, saturated and healthy", () => {
    expect(prom('java-actuator-saturated.txt')).toMatchObject({ format: 'hikaricp', maxOpen: 2, inUse: 2, idle: 0, waiting: 13 });
    expect(prom('java-metrics-saturated.txt')).toMatchObject({ format: 'hikaricp', maxOpen: 2, waiting: 13 });
    expect(prom('java-actuator-healthy.txt')).toMatchObject({ format: 'hikaricp', maxOpen: 10, inUse: 0, waiting: 0 });
  });
  it("HikariCP's own DEBUG `Pool stats` lines, with slf4j-simple's time stamps", () => {
    const stats = logLines('java-log-saturated.txt').map((l) => ({ p: poolFromLogLine(l, 'log'), at: logLineTime(l) })).filter((x) => x.p !== null);
    expect(stats.length).toBeGreaterThan(10);
    expect(stats.every((x) => x.at !== null)).toBe(true);
    expect(stats.some((x) => x.p?.waiting === 14 && x.p.inUse === 2 && x.p.idle === 0)).toBe(true);
    expect(stats[0]?.p?.maxOpen).toBeNull();
    expect(lastFromLog('java-log-healthy.txt')).toMatchObject({ format: 'hikaricp', open: 10, inUse: 0, idle: 10, waiting: 0 });
  });
});

describe('too many open files: the driver failing to connect, or a file', () => {
  const sig = (name: string) => scanLogLines(logLines(name)).signatures;
  it('lib/pq dialing PostgreSQL at the descriptor limit is a failed DB connection', () => {
    expect(sig('go-log-plusv-emfile.txt').dbConnectEmfile).toBeGreaterThan(0);
  });
  it('a leaked spool file is not, whatever its directory is called', () => {
    expect(sig('go-log-plusv-fdleak.txt')).toMatchObject({ dbConnectEmfile: 0 });
    expect(sig('go-log-plusv-fdleak.txt').emfile).toBeGreaterThan(0);
    expect(sig('java-app-emfile-saturated.txt')).toMatchObject({ dbConnectEmfile: 0 });
    expect(scanLogLines(['2026/12/03 16:21:20 spool report: open /srv/pool-data/db/report-1.json: too many open files']).signatures.dbConnectEmfile).toBe(0);
  });
});
