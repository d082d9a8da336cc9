import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInvestigationQueue } from '../../src/integrations/queue/investigations.js';
import { RedisIncidentStore } from '../../src/integrations/store/redis.js';
import { startLab, type LabHandle } from '../../src/lab/lab.js';
import { freePort } from '../helpers/ports.js';
import { startSshd, TEST_USER, type Sshd } from '../helpers/sshd.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const CLI = join(import.meta.dirname, '../../dist/cli.js');
const prefix = `t-rel-${Math.random().toString(36).slice(2, 10)}`;

let lab: LabHandle;
let sshd: Sshd;
let configPath: string;
let store: RedisIncidentStore;
const children: ChildProcess[] = [];

function worker(): ChildProcess & { out: () => string } {
  const child = spawn(process.execPath, [CLI, 'worker', '--config', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
  children.push(child);
  return Object.assign(child, { out: () => out });
}

async function until<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

beforeAll(async () => {
  const port = await freePort();
  lab = await startLab({ scenario: 'db-pool', port, runAs: TEST_USER });
  sshd = await startSshd();
  const closedPort = await freePort();
  configPath = join(mkdtempSync(join(tmpdir(), 'triage-rel-')), 'triage.config.yaml');
  writeFileSync(
    configPath,
    [
      'hosts:',
      '  lab-1:',
      '    address: 127.0.0.1',
      `    ssh: {port: ${sshd.port}, user: ${sshd.user}, keyPath: ${sshd.keyPath}, hostKey: {knownHosts: ${sshd.knownHostsPath}}}`,
      '  gone-1:',
      '    address: 127.0.0.2',
      `    ssh: {port: ${closedPort}, user: ${sshd.user}, keyPath: ${sshd.keyPath}, hostKey: {knownHosts: ${sshd.knownHostsPath}}}`,
      'services:',
      `  checkout: {port: ${port}, instances: [lab-1, gone-1]}`,
      `redis: {url: "${REDIS_URL}", prefix: ${prefix}}`,
      'worker: {concurrency: 2, lockDurationMs: 3000, stalledIntervalMs: 1000, shutdownTimeoutMs: 3000}',
      // A long sampling interval keeps the investigation running long enough to kill its worker.
      'investigation: {probePath: /xx/checkalive, probeAttempts: 10, intervalMs: 4000}',
      'log: {level: info}',
    ].join('\n'),
  );
  store = new RedisIncidentStore(REDIS_URL, prefix);
  await store.ready(5000).catch(() => {
    throw new Error(`Redis is not reachable at ${REDIS_URL}: start redis-server, or set REDIS_URL`);
  });
  await lab.waitForFailure(45_000);
}, 90_000);

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await lab?.stop();
  await sshd?.stop();
  const r = new Redis(REDIS_URL);
  let cursor = '0';
  do {
    const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
    cursor = next;
    if (keys.length) await r.del(...keys);
  } while (cursor !== '0');
  r.disconnect();
  await store?.close();
});

describe('triage worker reliability', () => {
  it('a worker killed mid-investigation: another worker takes the job over and the incident completes, once', async () => {
    const queue = createInvestigationQueue(REDIS_URL, prefix);
    const { incident } = await store.openOrJoin({ runbook: 'connreset', target: `lab-1:${lab.port}`, trigger: { kind: 'cli' }, now: new Date() });
    await queue.enqueue(incident.id);
    const a = worker();
    await until('the first worker to start investigating', async () => (await store.get(incident.id))?.status === 'investigating', 20_000);
    a.kill('SIGKILL');
    // Two workers compete for the stalled job; only one may run it.
    const b = worker();
    const c = worker();
    const done = await until('the incident to be diagnosed', async () => {
      const i = await store.get(incident.id);
      return i?.status === 'diagnosed' ? i : null;
    }, 45_000);
    expect(done.report?.diagnosis.rootCause?.id).toBe('db-pool-saturation');
    expect(done.report?.target.via).toBe('ssh');
    const started = (await store.timeline(incident.id)).filter((e) => e.type === 'investigation-started');
    expect(started).toHaveLength(2);
    expect(started[0]?.data?.worker).toContain(`/${a.pid}`);
    expect([`/${b.pid}`, `/${c.pid}`].some((p) => String(started[1]?.data?.worker).endsWith(p))).toBe(true);
    await queue.close();
  });

  it('an unreachable host fails its incident with the reason, and does not block the others', async () => {
    const queue = createInvestigationQueue(REDIS_URL, prefix);
    const bad = await store.openOrJoin({ runbook: 'connreset', target: `gone-1:${lab.port}`, trigger: { kind: 'cli' }, now: new Date() });
    const good = await store.openOrJoin({ runbook: 'connreset', target: `lab-1:${lab.port + 0}`, trigger: { kind: 'cli' }, now: new Date() });
    // The first test's incident for lab-1 is still open (diagnosed, not resolved): resolve it so a new one opens.
    if (!good.created) {
      await store.update(good.incident.id, { status: 'resolved' });
    }
    const fresh = good.created ? good : await store.openOrJoin({ runbook: 'connreset', target: `lab-1:${lab.port}`, trigger: { kind: 'cli' }, now: new Date() });
    await queue.enqueue(bad.incident.id);
    await queue.enqueue(fresh.incident.id);
    worker();
    const failed = await until('the unreachable host to fail', async () => {
      const i = await store.get(bad.incident.id);
      return i?.status === 'failed' ? i : null;
    }, 30_000);
    expect(failed.error).toMatch(/gone-1: cannot connect to 127\.0\.0\.2:\d+: ECONNREFUSED/);
    const ok = await until('the other incident to be diagnosed', async () => {
      const i = await store.get(fresh.incident.id);
      return i?.status === 'diagnosed' ? i : null;
    }, 45_000);
    expect(ok.report?.diagnosis.rootCause?.id).toBe('db-pool-saturation');
    await queue.close();
  });
});
