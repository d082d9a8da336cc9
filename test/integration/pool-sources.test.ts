import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadSettings } from '../../src/config.js';
import { investigate } from '../../src/engine/investigate.js';
import { startLab } from '../../src/lab/lab.js';
import { connreset } from '../../src/runbooks/connreset.js';
import { freePort } from '../helpers/ports.js';
import { startPrometheus } from '../helpers/prometheus.js';

function configFile(yaml: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'triage-cfg-')), 'triage.config.yaml');
  writeFileSync(file, yaml);
  return file;
}

describe('pool statistics from outside the process', () => {
  it('reads the pool and its last half hour from a real Prometheus server', async () => {
    const port = await freePort();
    // Prometheus first, so it scrapes the pool from the lab's first second on, before the
    // process runs out of descriptors and its /metrics stops answering.
    const prom = await startPrometheus([`127.0.0.1:${port}`]);
    // A roomier descriptor limit keeps /metrics answering longer while the pool is already
    // saturated, so the history has points whatever the machine's load.
    const lab = await startLab({ scenario: 'db-pool', port, nofile: 1024 });
    try {
      await lab.waitReady(15_000);
      let points = 0;
      for (let i = 0; i < 100 && points < 3; i++) {
        const sel = `go_sql_in_use_connections{instance="127.0.0.1:${port}"}[5m]`;
        const [count, max] = await Promise.all([prom.query(`count_over_time(${sel})`), prom.query(`max_over_time(${sel})`)]);
        points = Number(max[0]?.value[1] ?? 0) >= 2 ? Number(count[0]?.value[1] ?? 0) : 0;
        if (points < 3) await new Promise((res) => setTimeout(res, 300));
      }
      expect(points, 'Prometheus scraped the saturated pool').toBeGreaterThanOrEqual(3);
      const settings = loadSettings(configFile(`prometheus:\n  url: ${prom.url}\ninvestigation:\n  probePath: /xx/checkalive\n`), {});
      const report = await investigate({ runbook: connreset, target: { host: '127.0.0.1', port }, settings, local: true, samples: 1 });
      const pool = report.facts.pool;
      expect(pool?.tried.find((t) => t.source.startsWith(prom.url))?.result).toBe('pool statistics found');
      expect(pool?.history?.maxInUse).toBe(lab.settings.poolMax);
      expect(pool?.history?.points).toBeGreaterThanOrEqual(3);
      expect(pool?.history?.saturatedSince).not.toBeNull();
      expect(pool?.history?.waitCountIncrease).toBeGreaterThan(0);
      expect(report.findings.map((f) => f.id)).toContain('pool-history');
      // What went wrong first, from the monitoring history: the pool, before anything else.
      const history = report.facts.history;
      expect(history?.onsets.find((o) => o.signal === 'pool-saturated')?.at).not.toBeNull();
      expect(['pool-saturated', 'pool-waits']).toContain(history?.first);
      const poolEvidence = report.diagnosis.hypotheses.find((h) => h.id === 'db-pool-saturation')?.evidence.join(' ');
      expect(poolEvidence).toMatch(/monitoring: the pool saturated at/);
    } finally {
      await prom.stop();
      await lab.stop();
    }
  });

  it('reads pg_stat_activity against max_connections when the service pools real PostgreSQL connections', async () => {
    const port = await freePort();
    const dsn = process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';
    try {
      execFileSync('psql', ['-X', '-At', '-d', dsn, '-c', 'select 1'], { stdio: 'pipe', timeout: 5000 });
    } catch (err) {
      throw new Error(`PostgreSQL is not reachable at ${dsn}: start it (pg_ctlcluster 15 main start) or set DATABASE_URL: ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}`);
    }
    const lab = await startLab({ scenario: 'db-pool', port, databaseUrl: dsn });
    try {
      await lab.waitForFailure(45_000);
      const settings = loadSettings(
        configFile(
          [
            'hosts:',
            '  local:',
            '    address: 127.0.0.1',
            'services:',
            '  checkout:',
            `    port: ${port}`,
            '    instances: [local]',
            '    pool:',
            `      metricsUrl: http://127.0.0.1:1/metrics`,
            '      postgres:',
            `        dsn: ${dsn}`,
            '        maxConnections: 100',
          ].join('\n'),
        ),
        {},
      );
      const report = await investigate({ runbook: connreset, target: { host: '127.0.0.1', port }, settings, local: true, samples: 2, intervalMs: 500 });
      const stats = report.facts.pool?.stats;
      expect(report.target.service).toBe('checkout');
      expect(stats?.format).toBe('pg_stat_activity');
      // The lab's pool holds its two connections busy in pg_sleep.
      expect(stats?.inUse).toBeGreaterThanOrEqual(lab.settings.poolMax);
      expect(stats?.maxOpen).toBe(100);
    } finally {
      await lab.stop();
    }
  });
});
