/** Fact sets of the write-up's incident, for diagnosis and claim tests. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Facts, PoolStats } from '../../src/core/facts.js';
import type { StepOutcome } from '../../src/engine/run.js';
import { connreset } from '../../src/runbooks/connreset.js';
import { poolFromPrometheus } from '../../src/steps/parse/pool.js';
import { parsePrometheusText } from '../../src/steps/parse/prometheus.js';

export const fixture = (name: string) => readFileSync(join(import.meta.dirname, '../fixtures', name), 'utf8');
const STEP_IDS = connreset.steps.map((s) => s.id);
export const allOk = (over: Partial<Record<string, StepOutcome['status']>> = {}): StepOutcome[] =>
  STEP_IDS.map((id) => ({ id, status: over[id] ?? 'ok', durationMs: 10, samples: 1, ...(over[id] && over[id] !== 'ok' ? { error: `${id} failed: permission denied` } : {}) }));

/** The write-up's incident as the steps measure it (numbers as the lab produces them). */
export function writeUp(pool: PoolStats | null): Facts {
  return {
    probe: {
      url: 'http://10.0.0.35:2133/xx/checkalive',
      attempts: Array.from({ length: 5 }, () => ({ outcome: 'reset' as const, connectMs: 0.4, totalMs: 2, error: 'ECONNRESET' })),
      counts: { reset: 5 },
      symptom: 'reset',
    },
    process: { pid: 4242, user: 'svc', command: '/srv/checkout', startedAt: '2026-11-25T00:00:00Z', uptimeSec: 3600, otherPids: [] },
    fds: { open: 127, countMethod: 'stat', softLimit: 128, hardLimit: 128, usedRatio: 127 / 128, byKind: { socket: 110, pipe: 8, anon_inode: 6, file: 3, other: 0 }, topFiles: [], host: { allocated: 2000, max: 9_000_000 }, growthPerSec: 0 },
    tcp: { port: 2133, byState: { 'CLOSE-WAIT': 96, ESTAB: 10, LISTEN: 1 }, closeWait: { total: 96, ownedByPid: 96, notAccepted: 0 }, listener: { queue: 0, backlog: 511 }, closeWaitGrowthPerSec: 0 },
    kernel: { listenOverflows: 0, listenDrops: 0, tcpAbortOnClose: 40, tcpAbortOnData: 25, outRsts: 900, estabResets: 120, conntrack: { count: 1200, max: 40000 }, delta: { listenOverflows: 0, listenDrops: 0, tcpAbortOnClose: 40, tcpAbortOnData: 25, outRsts: 80, estabResets: 120 }, intervalMs: 2000 },
    logs: { files: [], signatures: { emfile: 0, dbConnectEmfile: 0, enfile: 0, poolTimeout: 0, acceptError: 0 }, latency: { samples: 50, earlyP50Ms: 900, lateP50Ms: 3200, trend: 'rising' } },
    pool: { stats: pool, tried: [{ source: 'http://10.0.0.35:2133/metrics', result: pool ? 'pool statistics found' : 'ECONNRESET (the process may be out of descriptors)' }] },
  };
}

export const goPool = (): PoolStats => {
  const stats = poolFromPrometheus(parsePrometheusText(fixture('prom-go-sql.txt')).samples, 'http://10.0.0.35:2133/metrics');
  if (!stats) throw new Error('fixture has no go_sql pool');
  return { ...stats, waitCountDelta: 312, intervalMs: 2000 };
};

