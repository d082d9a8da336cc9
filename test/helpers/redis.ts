// Redis for tests: the machine's Redis at REDIS_URL (scripts/test-prereqs.mjs makes sure it
// answers) with a unique key prefix per test, and private redis-server processes for tests that
// restart Redis.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './ports.js';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

const BIN = '/usr/bin/redis-server';
const READY_TIMEOUT_MS = 10_000;
const MAX_OUTPUT = 64 * 1024;

/** A key prefix nobody else uses: `t-<name>-<random>`, only [A-Za-z0-9_-] (what BullMQ and the config accept). */
export function uniquePrefix(name: string): string {
  const clean = name.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 40) || 'x';
  return `t-${clean}-${Date.now().toString(36)}${randomBytes(4).toString('hex')}`;
}

/** Deletes every key `${prefix}:*` (SCAN + UNLINK in batches) at `url` (default REDIS_URL). */
export async function cleanPrefix(prefix: string, url: string = REDIS_URL): Promise<number> {
  if (!/^[A-Za-z0-9_-]+$/.test(prefix)) throw new Error(`cleanPrefix: refusing a prefix with glob or separator characters: ${prefix}`);
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: true, retryStrategy: () => null });
  redis.on('error', () => {});
  let deleted = 0;
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) deleted += await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return deleted;
}

export interface PrivateRedis {
  url: string;
  port: number;
  /** Stops the server (SIGTERM, SIGKILL after 5 s) and removes its directory. Idempotent. */
  stop(): Promise<void>;
  /** SIGTERM, wait for exit, start again on the same port with the same data directory. */
  restart(): Promise<void>;
}

const live = new Set<ChildProcess>();
let exitHook = false;
function installExitHook(): void {
  if (exitHook) return;
  exitHook = true;
  process.on('exit', () => {
    for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function pingOnce(url: string): Promise<boolean> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 500 });
  r.on('error', () => {});
  try {
    await r.connect();
    return (await r.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

function waitExit(child: ChildProcess, killAfterMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

/**
 * A private `redis-server` on a free loopback port whose data survives `restart()`: no RDB
 * snapshots, an append-only file fsynced on every write, in a temp directory.
 */
export async function startPrivateRedis(): Promise<PrivateRedis> {
  if (!existsSync(BIN)) {
    throw new Error('redis-server not found: run `npm test` as root on Debian (it installs it), or: apt-get install -y redis-server');
  }
  const dir = mkdtempSync(join(tmpdir(), 'triage-redis-'));
  installExitHook();
  let child: ChildProcess | undefined;
  let output = '';

  const launch = async (port: number): Promise<void> => {
    output = '';
    const c = spawn(
      BIN,
      [
        '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'always',
        '--dir', dir, '--daemonize', 'no', '--maxmemory-policy', 'noeviction', '--loglevel', 'warning',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const collect = (d: Buffer) => {
      if (output.length < MAX_OUTPUT) output += d.toString();
    };
    c.stdout!.on('data', collect);
    c.stderr!.on('data', collect);
    let spawnError: Error | undefined;
    c.on('error', (e) => (spawnError = e));
    child = c;
    live.add(c);
    c.once('exit', () => live.delete(c));
    const url = `redis://127.0.0.1:${port}`;
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (spawnError) throw new Error(`redis-server failed to start: ${spawnError.message}`);
      if (c.exitCode !== null || c.signalCode !== null) {
        const err = new Error(`redis-server exited (${c.signalCode ?? `code ${c.exitCode}`}): ${output.trim().slice(-1000) || '(no output)'}`);
        (err as Error & { inUse?: boolean }).inUse = /Address already in use/i.test(output);
        throw err;
      }
      if (await pingOnce(url)) return;
      if (Date.now() > deadline) {
        c.kill('SIGKILL');
        throw new Error(`redis-server not answering on ${url} within ${READY_TIMEOUT_MS} ms: ${output.trim().slice(-1000)}`);
      }
      await sleep(50);
    }
  };

  let port = 0;
  try {
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      try {
        await launch(port);
        break;
      } catch (err) {
        if (attempt < 3 && (err as { inUse?: boolean }).inUse) continue;
        throw err;
      }
    }
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }

  let stopped: Promise<void> | undefined;
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    async restart() {
      if (stopped) throw new Error('restart() after stop()');
      const c = child!;
      c.kill('SIGTERM');
      await waitExit(c, 5000);
      // The port is ours until someone else grabs it; retry briefly if the kernel still holds it.
      for (let attempt = 1; ; attempt++) {
        try {
          await launch(port);
          return;
        } catch (err) {
          if (attempt < 20 && (err as { inUse?: boolean }).inUse) {
            await sleep(100);
            continue;
          }
          throw err;
        }
      }
    },
    stop() {
      stopped ??= (async () => {
        if (child) {
          child.kill('SIGTERM');
          await waitExit(child, 5000);
        }
        rmSync(dir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}
