import fs from 'node:fs';
import net from 'node:net';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';

import { startPostgres, type PostgresCluster } from '../../src/lab/stacks/postgres.js';

/** true if something accepts a TCP connection on 127.0.0.1:port */
function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

async function query<T extends pg.QueryResultRow>(dsn: string, sql: string): Promise<T[]> {
  const c = new pg.Client({ connectionString: dsn });
  await c.connect();
  try {
    return (await c.query<T>(sql)).rows;
  } finally {
    await c.end();
  }
}

describe('PostgreSQL harness', () => {
  const clusters: PostgresCluster[] = [];

  afterAll(async () => {
    await Promise.all(clusters.map((c) => c.stop()));
  });

  it('starts two throwaway clusters at once, each usable as triage@lab, and stops them cleanly', { timeout: 180_000 }, async () => {
    const logs: string[][] = [[], []];
    const started = await Promise.all([0, 1].map((i) => startPostgres({ onLine: (l) => logs[i]?.push(l) })));
    clusters.push(...started);
    const [a, b] = started as [PostgresCluster, PostgresCluster];

    expect(a.port).not.toBe(b.port);
    expect(a.dir).not.toBe(b.dir);
    expect(a.dsn()).toBe(`postgres://triage@127.0.0.1:${a.port}/lab`);
    expect(b.dsn('postgres')).toBe(`postgres://triage@127.0.0.1:${b.port}/postgres`);

    for (const c of [a, b]) {
      const rows = await query<{ user: string; db: string; max: string; slept: string }>(
        c.dsn(),
        "select current_user as user, current_database() as db, current_setting('max_connections') as max, pg_sleep(0.05)::text as slept",
      );
      expect(rows[0]).toMatchObject({ user: 'triage', db: 'lab', max: String(c.maxConnections) });
      expect(c.maxConnections).toBe(200);
      // the server runs unprivileged
      const owner = fs.statSync(`${c.dir}/data`).uid;
      if (process.getuid?.() === 0) expect(owner).not.toBe(0);
    }
    // the log reached onLine
    expect(logs[0]?.join('\n')).toMatch(/ready to accept connections/);

    await Promise.all([a.stop(), b.stop()]);
    for (const c of [a, b]) {
      expect(await portOpen(c.port)).toBe(false);
      expect(fs.existsSync(c.dir)).toBe(false);
    }
    // stop() is idempotent
    await a.stop();
  });
});
