/**
 * Starts one real-stack scenario: the runtime's service under its descriptor limit against a
 * PostgreSQL cluster, and the lab's load generator; waits until a fresh client fails (or, for a
 * healthy scenario, answers).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import pg from 'pg';
import { labScriptPath, probe, type ProbeOutcome } from '../lab.js';
import { goRuntime } from './go.js';
import { javaRuntime } from './java.js';
import { nodeRuntime } from './node.js';
import type { PostgresCluster } from './postgres.js';
import { getStackScenario, type StackScenario } from './scenarios.js';
import type { StackId, StackRuntime } from './types.js';

/** Terminates every client connection to the lab database but the caller's; returns how many. */
async function terminateConnections(pg: PostgresCluster): Promise<number> {
  const client = new Client({ connectionString: pg.dsn() });
  await client.connect();
  try {
    const res = await client.query(
      "select count(*) filter (where pg_terminate_backend(pid)) as n from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid() and backend_type = 'client backend'",
    );
    return Number((res.rows[0] as { n: string } | undefined)?.n ?? 0);
  } finally {
    await client.end();
  }
}

export const RUNTIMES: Record<StackId, StackRuntime> = { go: goRuntime, java: javaRuntime, node: nodeRuntime };

export interface StackLab {
  scenario: StackScenario;
  port: number;
  pid: number;
  logDir: string;
  /**
   * Resolves when `need` of the last `window` fresh probes failed (after at least `minMs` of load);
   * rejects after `timeoutMs`. A saturated Go service still answers some requests, so failures are
   * counted over a window, not in a row.
   */
  waitForFailure(timeoutMs: number, need?: number, minMs?: number, window?: number): Promise<ProbeOutcome>;
  /** Resolves when a fresh probe is answered. */
  waitReady(timeoutMs: number): Promise<void>;
  stop(): Promise<void>;
}

const { Client } = pg;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function kill(p: ChildProcess | null, sig: NodeJS.Signals): void {
  if (p?.pid === undefined || p.exitCode !== null || p.signalCode !== null) return;
  try {
    process.kill(p.pid, sig);
  } catch {
    // already gone
  }
}

async function stopChild(p: ChildProcess | null): Promise<void> {
  if (!p || p.exitCode !== null || p.signalCode !== null) return;
  const gone = new Promise<void>((r) => p.once('exit', () => r()));
  kill(p, 'SIGTERM');
  await Promise.race([gone, sleep(3000)]);
  kill(p, 'SIGKILL');
  await Promise.race([gone, sleep(2000)]);
}

export async function startStackLab(opts: { scenario: string; port: number; pg: PostgresCluster; onLine?: (line: string) => void; signal?: AbortSignal }): Promise<StackLab> {
  const sc = getStackScenario(opts.scenario);
  const say = opts.onLine ?? (() => undefined);
  const runtime = RUNTIMES[sc.stack];
  const buildDir = await runtime.build(opts.signal);
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), `triage-stack-${sc.id}-`));
  fs.mkdirSync(path.join(logDir, 'spool'), { recursive: true });
  const { argv } = runtime.command(
    { port: opts.port, host: '127.0.0.1', dsn: opts.pg.dsn(), poolMax: sc.service.poolMax, queryMs: sc.service.queryMs, behaviour: sc.service.behaviour, poolExport: sc.service.poolExport, logDir,
      ...(sc.service.queryContext ? { queryContext: sc.service.queryContext } : {}),
      ...(sc.service.connMaxLifetimeMs ? { connMaxLifetimeMs: sc.service.connMaxLifetimeMs } : {}) },
    buildDir,
  );
  const [cmd, ...args] = ['prlimit', `--nofile=${sc.service.nofile}:${sc.service.nofile}`, '--', ...argv];
  const svc = spawn(cmd as string, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let load: ChildProcess | null = null;
  const stop = async () => {
    await stopChild(load);
    await stopChild(svc);
    fs.rmSync(logDir, { recursive: true, force: true });
  };
  try {
    const pid = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${sc.stack} service did not listen within 60 s`)), 60_000);
      svc.once('error', (e) => reject(new Error(`${sc.stack} service: ${e.message}`)));
      svc.once('exit', (code, sig) => reject(new Error(`${sc.stack} service exited (${sig ?? `code ${code}`}) before it listened`)));
      readline.createInterface({ input: svc.stdout as NodeJS.ReadableStream }).on('line', (line) => {
        try {
          const ev = JSON.parse(line) as { event?: string; pid?: number };
          if (ev.event === 'listening' && typeof ev.pid === 'number') {
            clearTimeout(timer);
            resolve(ev.pid);
            return;
          }
        } catch {
          // not an event line
        }
        say(`${sc.stack}: ${line}`);
      });
      readline.createInterface({ input: svc.stderr as NodeJS.ReadableStream }).on('line', (line) => say(`${sc.stack}: ${line}`));
    });
    say(`${sc.id}: ${sc.stack} service pid ${pid} on 127.0.0.1:${opts.port}, nofile ${sc.service.nofile}, logs in ${logDir}`);
    load = spawn(process.execPath, [labScriptPath('loadgen'), '--host', '127.0.0.1', '--port', String(opts.port), '--rps', String(sc.load.rps), '--timeout-ms', String(sc.load.clientTimeoutMs)], { stdio: ['ignore', 'ignore', 'pipe'] });
    const startedAt = Date.now();
    return {
      scenario: sc,
      port: opts.port,
      pid,
      logDir,
      async waitForFailure(timeoutMs, need = 3, minMs = 8000, window = 5) {
        const deadline = Date.now() + timeoutMs;
        const seen: ProbeOutcome[] = [];
        let last: ProbeOutcome = 'ok';
        while (Date.now() < deadline) {
          last = await probe('127.0.0.1', opts.port, 2000);
          seen.push(last);
          if (seen.length > window) seen.shift();
          const failed = seen.filter((o) => o !== 'ok').length;
          if (failed >= need && Date.now() - startedAt >= minMs) {
            if (sc.terminateDbConnections) {
              // Each termination frees the connection's descriptor, and the pool's redial races the
              // accept loop for it: a redial that loses fails with "too many open files". Several
              // rounds, as a database that keeps dropping connections (a failover) would.
              let n = 0;
              for (let round = 0; round < 8; round++) {
                n += await terminateConnections(opts.pg);
                await sleep(400);
              }
              say(`${sc.id}: PostgreSQL terminated ${n} connections of the service in 8 rounds`);
              await sleep(1000);
            }
            return last;
          }
          await sleep(500);
        }
        throw new Error(`${sc.id}: no failure within ${timeoutMs} ms (last probes: ${seen.join(', ')})`);
      },
      async waitReady(timeoutMs) {
        const deadline = Date.now() + timeoutMs;
        while (Date.now() < deadline) {
          if ((await probe('127.0.0.1', opts.port, 2000)) === 'ok') return;
          await sleep(300);
        }
        throw new Error(`${sc.id}: not answering within ${timeoutMs} ms`);
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
