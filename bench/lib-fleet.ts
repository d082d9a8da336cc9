// A fleet for the fan-out benchmark: N lab services (src/lab/service.ts, `healthy` scenario, no
// load generator), each its own process on its own loopback port, run as the SSH user so that it
// may read their /proc/PID/fd.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import readline from 'node:readline';
import { labScriptPath } from '../src/lab/lab.js';
import { freePort } from '../test/helpers/ports.js';
import { onCleanup, signalPid, sleep } from './lib-env.js';

export interface FleetMember {
  name: string;
  port: number;
  pid: number;
  logDir: string;
}

export interface Fleet {
  members: FleetMember[];
  stop(): Promise<void>;
}

function idsOf(user: string): { uid: number; gid: number } {
  return { uid: Number(execFileSync('id', ['-u', user]).toString().trim()), gid: Number(execFileSync('id', ['-g', user]).toString().trim()) };
}

function startOne(name: string, root: string, ids: { uid: number; gid: number }, procs: ChildProcess[]): Promise<FleetMember> {
  const attempt = async (tries: number): Promise<FleetMember> => {
    const port = await freePort();
    const logDir = join(root, name);
    const child = spawn(
      process.execPath,
      [labScriptPath('service'), '--port', String(port), '--host', '127.0.0.1', '--log-dir', logDir, '--scenario', 'healthy'],
      { uid: ids.uid, gid: ids.gid, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    procs.push(child);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => {
      if (stderr.length < 2000) stderr += d.toString('utf8');
    });
    const listening = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), 15_000);
      readline.createInterface({ input: child.stdout! }).on('line', (line) => {
        try {
          const ev = JSON.parse(line) as { event?: string; pid?: number };
          if (ev.event === 'listening' && typeof ev.pid === 'number') {
            clearTimeout(timer);
            resolve(ev.pid);
          }
        } catch {
          // not an event line
        }
      });
      child.once('exit', () => {
        clearTimeout(timer);
        resolve(null);
      });
    });
    if (listening !== null) return { name, port, pid: listening, logDir };
    signalPid(child.pid, 'SIGKILL');
    if (tries > 0 && /EADDRINUSE/.test(stderr)) return attempt(tries - 1);
    throw new Error(`fleet service ${name} on :${port} did not start: ${stderr.trim() || 'no output'}`);
  };
  return attempt(3);
}

/** Starts `count` services, `parallel` at a time; stopped by stop() or the benchmark's clean-up. */
export async function startFleet(count: number, user: string, parallel = 8): Promise<Fleet> {
  const ids = idsOf(user);
  const root = mkdtempSync(join(tmpdir(), 'triage-bench-fleet-'));
  chmodSync(root, 0o755);
  const procs: ChildProcess[] = [];
  const stop = onCleanup(async () => {
    for (const p of procs) signalPid(p.pid, 'SIGTERM');
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline && procs.some((p) => p.exitCode === null && p.signalCode === null)) await sleep(50);
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) signalPid(p.pid, 'SIGKILL');
    rmSync(root, { recursive: true, force: true });
  });
  try {
    const names = Array.from({ length: count }, (_, i) => `svc-${String(i + 1).padStart(3, '0')}`);
    for (const name of names) {
      const dir = join(root, name);
      execFileSync('mkdir', ['-p', dir]);
      chownSync(dir, ids.uid, ids.gid);
    }
    const members: FleetMember[] = [];
    for (let i = 0; i < names.length; i += parallel) {
      members.push(...(await Promise.all(names.slice(i, i + parallel).map((n) => startOne(n, root, ids, procs)))));
    }
    return { members, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Runs `fn` over `items` with at most `limit` in flight; results in input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
