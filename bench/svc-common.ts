// What the three service benchmarks share: a `triage serve` on loopback with its own Redis prefix,
// Alertmanager payloads, and the storm load generator run as a child process (bench/svc-loadgen.ts)
// so that it never shares an event loop with what is measured.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { stringify } from 'yaml';
import type { Incident } from '../src/core/incident.js';
import { onCleanup } from './lib-env.js';
import { alertmanagerPayload as buildAlertmanagerPayload } from '../test/helpers/alertmanager.js';
import { freePort } from '../test/helpers/ports.js';
import { cleanPrefix, REDIS_URL, uniquePrefix } from '../test/helpers/redis.js';
import { TEST_USER } from '../test/helpers/sshd.js';
import { startServe, triageJson, type ServeProcess } from '../test/helpers/triage-service.js';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Storm parameters the issue fixes: 20,000 alerts for 20 targets. */
export const STORM = {
  alerts: 20_000,
  targets: 20,
  /** Alerts in one webhook request: Alertmanager groups by target, one group of 10 per notification. */
  perRequest: 10,
  /** Requests in flight at once (keep-alive connections): one per target group, as Alertmanager sends one notification per group at a time. */
  concurrency: 20,
  /** Alerts sent before each measured storm, not measured: serve past its JIT and Redis script loading. */
  warmup: 1000,
  /** Target ports: nothing listens on them; no worker runs, so nothing ever connects. */
  firstPort: 31_101,
} as const;

export const stormPorts = (): number[] => Array.from({ length: STORM.targets }, (_, i) => STORM.firstPort + i);

export interface SlackSettings {
  botToken: string;
  signingSecret: string;
  apiUrl: string;
}

export interface StormService {
  serve: ServeProcess;
  configPath: string;
  prefix: string;
  token: string;
  webhookUrl: string;
  /** All incidents in the store (up to 1000). */
  incidents(): Promise<Incident[]>;
  /** Stops serve, deletes the prefix's keys and the temp directory. Idempotent. */
  stop(): Promise<void>;
}

/** Fails with what to do when nothing answers PING at REDIS_URL (the service benchmarks store incidents there). */
export async function requireRedis(): Promise<void> {
  const r = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 2000 });
  r.on('error', () => {});
  try {
    await r.connect();
    if ((await r.ping()) === 'PONG') return;
  } catch {
    // answered below
  } finally {
    r.disconnect();
  }
  throw new Error(
    `Redis does not answer at ${REDIS_URL}; the service benchmarks need it. Install and start it: apt-get install -y --no-install-recommends redis-server && mkdir -p /var/lib/redis && redis-server --bind 127.0.0.1 --port 6379 --daemonize yes --dir /var/lib/redis --maxmemory-policy noeviction (npm test's scripts/test-prereqs.mjs starts it too)`,
  );
}

/**
 * `triage serve` for the storm: the 20 targets route to one host (`local`), bearer-token webhooks,
 * Slack in HTTP mode when `slack` is given. No worker runs: incidents stay `open`, their
 * investigations wait in the queue and are deleted with the prefix.
 */
export async function startStormService(name: string, slack?: SlackSettings): Promise<StormService> {
  await requireRedis();
  const prefix = uniquePrefix(`bench-${name}`);
  const token = randomBytes(16).toString('hex');
  const dir = mkdtempSync(join(tmpdir(), `triage-bench-${name}-`));
  const configPath = join(dir, 'triage.config.yaml');
  writeFileSync(
    configPath,
    stringify({
      hosts: {
        local: { address: '127.0.0.1', ssh: { port: 22, user: TEST_USER, keyPath: join(dir, 'id_none'), hostKey: { acceptNew: true } } },
      },
      redis: { url: REDIS_URL, prefix },
      server: { host: '127.0.0.1', port: await freePort() },
      webhooks: { alertmanager: { auth: { type: 'bearer', token } } },
      routes: [{ match: { alertname: 'FdUsageHigh' }, runbook: 'connreset', target: { instanceLabel: 'instance' } }],
      log: { level: 'warn' },
      ...(slack ? { slack: { mode: 'http', botToken: slack.botToken, signingSecret: slack.signingSecret, apiUrl: slack.apiUrl } } : {}),
    }),
  );
  let serve: ServeProcess;
  try {
    serve = await startServe(configPath);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    await cleanPrefix(prefix).catch(() => 0);
    throw err;
  }
  // Also run on Ctrl-C (bench/lib-env.ts), once.
  const stop = onCleanup(async () => {
    await serve.stop();
    await cleanPrefix(prefix).catch(() => 0);
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    serve,
    configPath,
    prefix,
    token,
    webhookUrl: `${serve.url}/webhooks/alertmanager`,
    incidents: () => triageJson(['incidents', '--config', configPath, '--limit', '1000']) as Promise<Incident[]>,
    stop,
  };
}

/** What the generator reports: one latency per request, in ms, and the wall time of the whole storm. */
export interface StormOutcome {
  requests: number;
  alerts: number;
  /** HTTP status -> count; transport errors under `0`. */
  statuses: Record<string, number>;
  errors: string[];
  /** Per-request time from write to the end of the response body, ms. */
  latenciesMs: number[];
  /** From the first request sent to the last response received, ms. */
  wallMs: number;
}

export interface StormOptions {
  url: string;
  token: string;
  ports: number[];
  alerts: number;
  perRequest: number;
  concurrency: number;
  /** Distinguishes the alerts of one storm from another's (fingerprints, labels). */
  runId: string;
  /** Offered alerts per second (paced, open loop); absent: as fast as the server answers (closed loop). */
  rate?: number;
  /** Alerts sent first and not measured (default none). */
  warmup?: number;
}

export interface RunningStorm {
  /** Resolves with the outcome once the generator has sent everything. */
  done: Promise<StormOutcome>;
  /** Resolves when the generator has built its payloads and sends the first request. */
  started: Promise<void>;
  kill(): void;
}

/** Runs bench/svc-loadgen.ts in a child process (node + tsx); its stdout ends with the outcome JSON. */
export function runStorm(opts: StormOptions): RunningStorm {
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'svc-loadgen.ts'), JSON.stringify(opts)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const onExit = () => child.kill('SIGKILL');
  process.once('exit', onExit);
  const release = onCleanup(async () => void child.kill('SIGKILL'));
  let out = '';
  let err = '';
  let markStarted: () => void = () => {};
  const started = new Promise<void>((r) => (markStarted = r));
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    if (out.includes('STARTED\n')) markStarted();
  });
  child.stderr.on('data', (d: Buffer) => {
    if (err.length < 64 * 1024) err += d.toString();
  });
  const done = new Promise<StormOutcome>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      process.removeListener('exit', onExit);
      void release();
      markStarted();
      const line = out.split('\n').find((l) => l.startsWith('RESULT '));
      if (code !== 0 || !line) {
        reject(new Error(`load generator ${signal ?? `exit ${code}`}: ${err.trim().slice(-2000) || out.slice(-2000) || '(no output)'}`));
        return;
      }
      resolve(JSON.parse(line.slice('RESULT '.length)) as StormOutcome);
    });
  });
  return { done, started, kill: () => child.kill('SIGKILL') };
}

/** Alertmanager's webhook body (version 4) for one group: `alerts` firing alerts of one target. */
export function alertmanagerPayload(port: number, alerts: { seq: number; runId: string }[]): string {
  const instance = `127.0.0.1:${port}`;
  const base = Date.UTC(2026, 0, 1, 0, 0, 0);
  const common = { alertname: 'FdUsageHigh', instance, job: 'lab', severity: 'page' };
  return JSON.stringify(
    buildAlertmanagerPayload(
      alerts.map(({ seq, runId }) => ({
        labels: { ...common, shard: `${runId}-${seq}` },
        annotations: { summary: `descriptors near the limit on ${instance} (shard ${seq})` },
        startsAt: new Date(base + seq * 1000).toISOString().replace('Z', '123456Z'),
        generatorURL: 'http://prometheus:9090/graph?g0.expr=process_open_fds',
        fingerprint: `${runId}${seq.toString(16).padStart(8, '0')}`,
      })),
      { groupLabels: { alertname: 'FdUsageHigh', instance } },
    ),
  );
}

/** Round to a given number of decimals. */
export const round = (x: number, digits = 1): number => Math.round(x * 10 ** digits) / 10 ** digits;

/** The storm's check: exactly one incident per target and every alert accepted stored with it. */
export async function checkIncidents(svc: StormService, ports: number[], alertsExpected: number): Promise<{ ok: boolean; incidents: number; alertsStored: number; problem?: string }> {
  const list = await svc.incidents();
  const alertsStored = list.reduce((n, i) => n + i.alerts.length, 0);
  const want = ports.map((p) => `local:${p}`).sort();
  const got = list.map((i) => i.target).sort();
  if (list.length !== ports.length) return { ok: false, incidents: list.length, alertsStored, problem: `${list.length} incidents, expected ${ports.length}` };
  if (JSON.stringify(got) !== JSON.stringify(want)) return { ok: false, incidents: list.length, alertsStored, problem: `targets ${got.join(',')} differ from ${want.join(',')}` };
  if (alertsStored !== alertsExpected) return { ok: false, incidents: list.length, alertsStored, problem: `${alertsStored} alerts stored, expected ${alertsExpected}` };
  return { ok: true, incidents: list.length, alertsStored };
}

/** The machine's 1-minute load average now, to put beside figures measured on a shared machine. */
export function loadNow(): number {
  return round(loadavg()[0] ?? 0, 2);
}

/** A note on how busy the machine was while a benchmark ran (other work shares its cores). */
export function loadNote(atStart: number, atEnd: number): string {
  return `Machine load (1-min load average) ${atStart} at the start, ${atEnd} at the end, on ${cpus().length} cores; above ${cpus().length} other work was competing for the CPU.`;
}
