import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSettings, type Settings } from '../../src/config.js';
import { investigate } from '../../src/engine/investigate.js';
import type { Report } from '../../src/engine/report.js';
import { startPostgres, type PostgresCluster } from '../../src/lab/stacks/postgres.js';
import { connreset } from '../../src/runbooks/connreset.js';
import { startPgbouncer, queryOnce, type Pgbouncer } from '../helpers/pgbouncer.js';

const POOL_SIZE = 2;
const CLIENTS = 6;
/**
 * Each client holds one of the two server connections this long. In transaction mode six clients
 * run in three waves, so someone waits for 2 × SLEEP_SEC and the pool is busy for 3 × SLEEP_SEC:
 * room for a whole investigation (under a second here, a few on a loaded machine).
 */
const SLEEP_SEC = 5;

type PoolRow = { database: string; user: string; cl_active: string; cl_waiting: string; sv_active: string; sv_idle: string; sv_used: string };

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

let pgc: PostgresCluster | undefined;
let pgb: Pgbouncer | undefined;
let target: Server | undefined;
let targetPort = 0;
let settings: Settings;
let cfgDir = '';
const clients: pg.Client[] = [];

/** SHOW POOLS, the row of the pooled database, read directly through the console (not through triage). */
async function poolRow(): Promise<PoolRow | undefined> {
  const rows = await queryOnce<PoolRow>((pgb as Pgbouncer).adminDsn(), 'SHOW POOLS');
  return rows.find((r) => r.database === 'lab');
}

/** Polls SHOW POOLS until `ok` holds; fails with the last row seen. */
async function waitForPool(what: string, ok: (r: PoolRow) => boolean, timeoutMs: number): Promise<PoolRow> {
  const until = Date.now() + timeoutMs;
  let last: PoolRow | undefined;
  for (let wait = 50; ; wait = Math.min(wait * 2, 250)) {
    last = await poolRow();
    if (last && ok(last)) return last;
    if (Date.now() > until) throw new Error(`pgbouncer pool never got ${what} within ${timeoutMs} ms; last SHOW POOLS row: ${JSON.stringify(last)}; log: ${pgb?.log()}`);
    await delay(wait);
  }
}

function investigateTarget(): Promise<Report> {
  return investigate({ runbook: connreset, target: { host: '127.0.0.1', port: targetPort }, settings, local: true, samples: 1 });
}

beforeAll(async () => {
  pgc = await startPostgres();
  pgb = await startPgbouncer({ upstreamPort: pgc.port, database: 'lab', user: 'triage', poolMode: 'transaction', defaultPoolSize: POOL_SIZE });

  // A small healthy service to investigate; its config names pgbouncer as its pool.
  target = createServer((req, res) => {
    res.writeHead(req.url === '/healthz' ? 200 : 404, { 'content-type': 'text/plain' }).end('ok\n');
  });
  await new Promise<void>((resolve, reject) => {
    target?.once('error', reject);
    target?.listen(0, '127.0.0.1', () => resolve());
  });
  const addr = target.address();
  targetPort = typeof addr === 'object' && addr ? addr.port : 0;

  cfgDir = mkdtempSync(join(tmpdir(), 'triage-cfg-'));
  const file = join(cfgDir, 'triage.config.yaml');
  writeFileSync(
    file,
    [
      'hosts:',
      '  local:',
      '    address: 127.0.0.1',
      'services:',
      '  orders:',
      `    port: ${targetPort}`,
      '    instances: [local]',
      '    pool:',
      '      pgbouncer:',
      `        dsn: ${pgb.adminDsn()}`,
      'investigation:',
      '  probePath: /healthz',
      '',
    ].join('\n'),
  );
  settings = loadSettings(file, {});
}, 120_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
  await new Promise<void>((r) => (target ? target.close(() => r()) : r()));
  await pgb?.stop();
  await pgc?.stop();
  if (cfgDir) rmSync(cfgDir, { recursive: true, force: true });
}, 60_000);

describe('pool statistics from a real pgbouncer', () => {
  it("reads SHOW POOLS: clients waiting while the pool is saturated, none once it drains", { timeout: 120_000 }, async () => {
    const bouncer = pgb as Pgbouncer;

    // Six clients through pgbouncer, each holding a server connection in pg_sleep.
    for (let i = 0; i < CLIENTS; i++) {
      const c = new pg.Client({ connectionString: bouncer.dsn(), connectionTimeoutMillis: 30_000 });
      c.on('error', () => undefined);
      clients.push(c);
    }
    await Promise.all(clients.map((c) => c.connect()));
    const sleeps = clients.map((c) => c.query(`select pg_sleep(${SLEEP_SEC})`));
    // Nothing rejects unobserved while the investigation runs; the results are checked below.
    const settled = Promise.allSettled(sleeps);

    const seen = await waitForPool('saturated (2 active servers, clients waiting)', (r) => Number(r.sv_active) === POOL_SIZE && Number(r.cl_waiting) >= 1, 30_000);
    expect(Number(seen.cl_active) + Number(seen.cl_waiting)).toBeGreaterThanOrEqual(CLIENTS);

    const busy = await investigateTarget();
    expect(busy.target.service).toBe('orders');
    const pool = busy.facts.pool;
    expect(busy.steps.find((s) => s.id === 'db-stats')?.status).toBe('ok');
    expect(pool?.tried).toContainEqual({ source: 'pgbouncer SHOW POOLS', result: 'pool statistics found' });
    expect(pool?.stats).toMatchObject({ format: 'pgbouncer', source: 'pgbouncer SHOW POOLS', inUse: POOL_SIZE });
    expect(pool?.stats?.waiting, `clients waiting in SHOW POOLS (the pool stayed saturated for ${2 * SLEEP_SEC} s; the investigation took ${busy.durationMs} ms)`).toBeGreaterThanOrEqual(1);
    const poolFinding = busy.findings.find((f) => f.id === 'pool-saturated');
    expect(poolFinding?.detail).toMatch(/in use 2/);

    // The sleeps end; every client got its answer.
    const results = await settled;
    expect(results.map((r) => r.status)).toEqual(Array(CLIENTS).fill('fulfilled'));
    await waitForPool('drained (no client waiting, no server active)', (r) => Number(r.cl_waiting) === 0 && Number(r.sv_active) === 0, 30_000);

    const idle = await investigateTarget();
    expect(idle.facts.pool?.tried).toContainEqual({ source: 'pgbouncer SHOW POOLS', result: 'pool statistics found' });
    expect(idle.facts.pool?.stats).toMatchObject({ format: 'pgbouncer', waiting: 0, inUse: 0 });
    expect(idle.facts.pool?.stats?.idle).toBe(POOL_SIZE);
    expect(idle.findings.map((f) => f.id)).not.toContain('pool-saturated');
  });
});
