// The bot as processes, for end-to-end tests: `triage serve`, `triage worker` and one-shot
// `triage ... --json` commands, run from dist/ (npm test builds before vitest runs).

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';

export const CLI = join(import.meta.dirname, '../../dist/cli.js');

const STOP_GRACE_MS = 10_000;
const READY_TIMEOUT_MS = 20_000;
const MAX_OUTPUT = 1024 * 1024;

export interface ServeProcess {
  /** `http://HOST:PORT` from the config's `server` section. */
  url: string;
  pid: number;
  /** SIGTERM, SIGKILL after 10 s; resolves when it has exited. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL now. */
  kill(): void;
  /** stdout and stderr so far (capped at 1 MiB). */
  output(): string;
}

export interface WorkerProcess {
  pid: number;
  /** SIGTERM, SIGKILL after 10 s; resolves when it has exited. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL now (a worker dying mid-job). */
  kill9(): void;
  output(): string;
}

// ---------------------------------------------------------------------------

const live = new Set<ChildProcess>();
let exitHook = false;
function track(child: ChildProcess): void {
  if (!exitHook) {
    exitHook = true;
    process.on('exit', () => {
      for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    });
  }
  live.add(child);
  child.once('exit', () => live.delete(child));
}

function ensureBuilt(): void {
  if (!existsSync(CLI)) throw new Error(`missing ${CLI}: run \`npm run build\` first`);
}

const running = (c: ChildProcess) => c.exitCode === null && c.signalCode === null;

function exited(c: ChildProcess): Promise<void> {
  if (!running(c)) return Promise.resolve();
  return new Promise((resolve) => c.once('exit', () => resolve()));
}

interface Spawned {
  child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
  describeExit(): string;
}

function spawnCli(args: string[], env?: NodeJS.ProcessEnv): Spawned {
  ensureBuilt();
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  track(child);
  let out = '';
  const collect = (d: Buffer) => {
    if (out.length < MAX_OUTPUT) out += d.toString();
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  child.on('error', (e) => collect(Buffer.from(`\n[spawn error: ${e.message}]\n`)));
  let stopping: Promise<void> | undefined;
  return {
    child,
    output: () => out,
    describeExit: () => (child.signalCode ? `killed by ${child.signalCode}` : `exit code ${child.exitCode}`),
    stop() {
      stopping ??= (async () => {
        if (!running(child)) return;
        const t = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
        child.kill('SIGTERM');
        await exited(child);
        clearTimeout(t);
      })();
      return stopping;
    },
  };
}

/** The server's base URL from a config file's `server` section (defaults as in src/config.ts). */
export function serverUrl(configPath: string): string {
  const doc = (parseYaml(readFileSync(configPath, 'utf8')) ?? {}) as { server?: { host?: string; port?: number } };
  const host = doc.server?.host ?? '127.0.0.1';
  const port = doc.server?.port ?? 8080;
  if (port === 0) throw new Error(`${configPath}: server.port 0 cannot be waited for; give it a fixed free port`);
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** Runs `triage serve --config PATH` and resolves once `GET /healthz` answers 200. */
export async function startServe(configPath: string, env?: NodeJS.ProcessEnv): Promise<ServeProcess> {
  const url = serverUrl(configPath);
  const p = spawnCli(['serve', '--config', configPath], env);
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (!running(p.child)) {
      await new Promise((r) => setTimeout(r, 50)); // let the output drain
      throw new Error(`triage serve ${p.describeExit()} before /healthz answered; output:\n${p.output().trim() || '(none)'}`);
    }
    const ok = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) }).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) {
      p.child.kill('SIGKILL');
      throw new Error(`triage serve: ${url}/healthz did not answer 200 within ${READY_TIMEOUT_MS} ms; output:\n${p.output().trim() || '(none)'}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    pid: p.child.pid!,
    stop: p.stop,
    kill: () => {
      if (running(p.child)) p.child.kill('SIGKILL');
    },
    output: p.output,
  };
}

/**
 * Runs `triage worker --config PATH`. Resolves once the process has been running for a moment
 * (a worker has no port to wait on); rejects if it exits at once, with its output.
 */
export async function startWorker(configPath: string, env?: NodeJS.ProcessEnv): Promise<WorkerProcess> {
  const p = spawnCli(['worker', '--config', configPath], env);
  await Promise.race([exited(p.child), new Promise((r) => setTimeout(r, 500))]);
  if (!running(p.child)) {
    await new Promise((r) => setTimeout(r, 50));
    throw new Error(`triage worker ${p.describeExit()} at start; output:\n${p.output().trim() || '(none)'}`);
  }
  return {
    pid: p.child.pid!,
    stop: p.stop,
    kill9: () => {
      if (running(p.child)) p.child.kill('SIGKILL');
    },
    output: p.output,
  };
}

/** Runs `triage <args> --json` and parses its stdout; rejects with stderr when it fails. */
export function triageJson(args: string[], env?: NodeJS.ProcessEnv): Promise<unknown> {
  ensureBuilt();
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [CLI, ...args, '--json'],
      { timeout: 60_000, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, ...env } },
      (err, stdout, stderr) => {
        if (err) {
          reject(new Error(`triage ${args.join(' ')} --json failed (${(err as { code?: unknown }).code ?? err.message}): ${stderr.trim() || stdout.trim()}`));
          return;
        }
        try {
          resolve(JSON.parse(stdout));
        } catch {
          reject(new Error(`triage ${args.join(' ')} --json printed no JSON: ${stdout.slice(0, 500)}${stderr ? `\nstderr: ${stderr.slice(0, 500)}` : ''}`));
        }
      },
    );
  });
}
