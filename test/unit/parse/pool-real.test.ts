/**
 * Pool statistics parsed from output captured from the real libraries (test/fixtures/pool/, with the
 * scripts that made them in test/fixtures/capture/pool-*.{sh,py} and versions in *-meta.json).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { poolFromLogLine, poolFromPgbouncer, poolFromPrometheus } from '../../../src/steps/parse/pool.js';
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
