/**
 * The incident lab: starts the lab service (src/lab/service.ts) under a descriptor limit, drives it
 * with the load generator (src/lab/loadgen.ts), and measures what the runbook measures: descriptors
 * from /proc/PID/fd and /proc/PID/limits, CLOSE_WAIT sockets from `ss`, and what a fresh client sees.
 *
 * Used by the CLI (`triage lab`), the demo and the integration tests.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { SymptomKind } from '../core/facts.js';
import { NodeNet } from '../integrations/net/node-net.js';
import { getScenario, type ScenarioId } from './scenarios.js';

export type { ScenarioId } from './scenarios.js';

export interface LabOptions {
  scenario: ScenarioId;
  port: number;
  /** default 127.0.0.1 */
  host?: string;
  /** default: a fresh mkdtemp */
  logDir?: string;
  nofile?: number;
  poolMax?: number;
  queryMs?: number;
  rps?: number;
  clientTimeoutMs?: number;
  databaseUrl?: string;
  /** run service and loadgen as this OS user via `runuser -u USER --`; logDir is chowned to that user */
  runAs?: string;
  /** progress lines for humans */
  onLine?: (line: string) => void;
  /** Start the service again when it exits, as a service manager would (restart actions in tests). */
  supervise?: boolean;
}

/** What a fresh probe client saw: the runbook's probe table, in short. */
export type ProbeOutcome = 'ok' | 'http-error' | 'reset' | 'eof' | 'timeout' | 'refused' | 'other';

export interface LabStatus {
  pid: number;
  fdsOpen: number | null;
  fdsLimit: number | null;
  closeWait: number;
  /** last loadgen counts (outcomes during the last second, plus inflight) */
  load: Record<string, number>;
  /** set by waitForFailure: what the fresh probe client saw */
  probe?: ProbeOutcome;
}

export interface LabSettings {
  nofile: number;
  poolMax: number;
  queryMs: number;
  rps: number;
  clientTimeoutMs: number;
}

export interface LabHandle {
  scenario: ScenarioId;
  pid: number;
  host: string;
  port: number;
  logDir: string;
  nofile: number;
  /** the settings actually used (scenario defaults overridden by options) */
  settings: LabSettings;
  status(): Promise<LabStatus>;
  /**
   * resolves when fds >= limit - 2, CLOSE_WAIT > 0 and a fresh probe gets ECONNRESET (status.probe
   * 'reset'), or, when 10 probes in a row saw no reset, at least 5 of them got EOF and none an answer
   * (status.probe 'eof': the same accept-and-close, the FIN won the race with the request bytes)
   */
  waitForFailure(timeoutMs: number): Promise<LabStatus>;
  /** resolves when the service answers GET /metrics */
  waitReady(timeoutMs: number): Promise<void>;
  /** kills loadgen and service (SIGTERM, SIGKILL after 2 s); idempotent */
  stop(): Promise<void>;
}

// ---------------------------------------------------------------- paths

/** The repository root: the nearest folder above this module with a package.json (works from src/ and dist/). */
export function findProjectRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`cannot find the project root (package.json) above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

/** Absolute path to dist/lab/<name>.js; works from dist/ and from src/ (vitest). */
export function labScriptPath(name: 'service' | 'loadgen'): string {
  const p = path.join(findProjectRoot(), 'dist', 'lab', `${name}.js`);
  if (!fs.existsSync(p)) throw new Error(`run \`npm run build\` first: missing dist/lab/${name}.js`);
  return p;
}

// ---------------------------------------------------------------- measurements

/** Descriptor count of a process: directory size on kernels >= 6.2, else a listing. */
export function countFds(pid: number): number | null {
  const dir = `/proc/${pid}/fd`;
  try {
    const size = fs.statSync(dir).size;
    if (size > 0) return size;
    return fs.readdirSync(dir).length;
  } catch {
    return null;
  }
}

/** Soft RLIMIT_NOFILE of a process from /proc/PID/limits. */
export function readFdLimit(pid: number): number | null {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/limits`, 'utf8'));
    return m?.[1] !== undefined ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

function execFileText(cmd: string, args: string[], timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}${stderr ? `: ${stderr.trim()}` : ''}`));
      else resolve(stdout);
    });
  });
}

/** Sockets in CLOSE_WAIT whose local port is `port` (`ss -Htan state close-wait '( sport = :PORT )'`). */
export async function countCloseWait(port: number): Promise<number> {
  const out = await execFileText('ss', ['-Htan', 'state', 'close-wait', `( sport = :${port} )`]);
  return out.split('\n').filter((l) => l.trim() !== '').length;
}

const NET = new NodeNet();
const OUTCOME: Record<SymptomKind, ProbeOutcome> = {
  ok: 'ok',
  'http-error': 'http-error',
  reset: 'reset',
  'empty-reply': 'eof',
  'read-timeout': 'timeout',
  'connect-timeout': 'timeout',
  refused: 'refused',
};

/** The listening socket's accept queue and backlog (`ss -Hltn`: Recv-Q and Send-Q). */
export async function listenerQueue(port: number): Promise<{ queue: number; backlog: number } | null> {
  const out = await execFileText('ss', ['-Hltn', `( sport = :${port} )`]);
  const f = out.trim().split(/\s+/);
  if (f.length < 3) return null;
  return { queue: Number(f[1]), backlog: Number(f[2]) };
}

/** A slow upstream HTTP service: answers every request after `delayMs`. */
async function startUpstream(host: string, delayMs: number): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => undefined);
    sock.once('data', () => {
      setTimeout(() => {
        if (!sock.destroyed) sock.end('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n');
      }, delayMs).unref();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port: 0, backlog: 4096 }, () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `http://${host}:${port}/quote`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * A fresh client, as the runbook's probe sees it (NodeNet.probe): `reset` is the incident's
 * symptom, including an EOF followed by an RST for the unread request.
 */
export async function probe(host: string, port: number, timeoutMs = 2000, reqPath = '/xx/checkalive'): Promise<ProbeOutcome> {
  const a = await NET.probe(host, port, reqPath, timeoutMs);
  return a.outcome === 'ok' && a.httpStatus !== 200 ? 'http-error' : OUTCOME[a.outcome];
}

/** GET a path over a raw connection and return status + body (null on any failure). */
export function httpGet(host: string, port: number, reqPath: string, timeoutMs = 2000): Promise<{ status: number; body: string } | null> {
  return new Promise((resolve) => {
    let data = '';
    const sock = net.connect({ host, port });
    const timer = setTimeout(() => {
      sock.destroy();
      resolve(null);
    }, timeoutMs);
    sock.on('connect', () => sock.write(`GET ${reqPath} HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n`));
    sock.on('data', (d: Buffer) => {
      data += d.toString('utf8');
    });
    sock.on('end', () => {
      clearTimeout(timer);
      sock.destroy();
      const m = /^HTTP\/1\.[01] (\d{3})[^\r\n]*\r\n[\s\S]*?\r\n\r\n([\s\S]*)$/.exec(data);
      resolve(m?.[1] !== undefined ? { status: Number(m[1]), body: m[2] ?? '' } : null);
    });
    sock.on('error', () => {
      clearTimeout(timer);
      sock.destroy();
      resolve(null);
    });
  });
}

// ---------------------------------------------------------------- processes

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function alive(pid: number): boolean {
  try {
    // a zombie still "exists" for kill(0); look at its state
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

async function lookupIds(user: string): Promise<{ uid: number; gid: number }> {
  const uid = Number((await execFileText('id', ['-u', user])).trim());
  const gid = Number((await execFileText('id', ['-g', user])).trim());
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) throw new Error(`cannot resolve uid/gid of user "${user}"`);
  return { uid, gid };
}

interface Child {
  proc: ChildProcess;
  /** the node process's own pid (differs from proc.pid under runuser) */
  pid: number;
  exited: boolean;
  exitInfo: string;
}

function redact(args: string[]): string[] {
  return args.map((a) => a.replace(/(\/\/[^:/@]+:)[^@]*@/, '$1***@'));
}

function spawnNode(
  label: string,
  script: string,
  args: string[],
  wrap: { nofile?: number; runAs?: string },
  say: (line: string) => void,
  onStdoutLine: (line: string) => void,
): ChildProcess {
  let cmd: string[] = [process.execPath, script, ...args];
  if (wrap.nofile !== undefined) cmd = ['prlimit', `--nofile=${wrap.nofile}:${wrap.nofile}`, ...cmd];
  if (wrap.runAs !== undefined) cmd = ['runuser', '-u', wrap.runAs, '--', ...cmd];
  say(`starting ${label}: ${redact(cmd).join(' ')}`);
  const [bin, ...rest] = cmd as [string, ...string[]];
  const proc = spawn(bin, rest, { stdio: ['ignore', 'pipe', 'pipe'] });
  readline.createInterface({ input: proc.stdout! }).on('line', onStdoutLine);
  readline.createInterface({ input: proc.stderr! }).on('line', (l) => {
    if (l.trim() !== '') say(`${label}: ${l}`);
  });
  return proc;
}

function waitExit(proc: ChildProcess, ms: number): Promise<boolean> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    proc.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

// ---------------------------------------------------------------- the lab

export function resolveLabSettings(opts: LabOptions): LabSettings {
  const sc = getScenario(opts.scenario);
  return {
    nofile: opts.nofile ?? sc.service.nofile,
    poolMax: opts.poolMax ?? sc.service.poolMax,
    queryMs: opts.queryMs ?? sc.service.queryMs,
    rps: opts.rps ?? sc.load.rps,
    clientTimeoutMs: opts.clientTimeoutMs ?? sc.load.clientTimeoutMs,
  };
}

export async function startLab(opts: LabOptions): Promise<LabHandle> {
  const scenario = getScenario(opts.scenario);
  const settings = resolveLabSettings(opts);
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port;
  const say = opts.onLine ?? (() => undefined);
  const serviceJs = labScriptPath('service');
  const loadgenJs = labScriptPath('loadgen');

  const logDir = opts.logDir ?? fs.mkdtempSync(path.join(os.tmpdir(), `triage-lab-${scenario.id}-`));
  fs.mkdirSync(logDir, { recursive: true });
  if (opts.runAs !== undefined) {
    const { uid, gid } = await lookupIds(opts.runAs);
    fs.chownSync(logDir, uid, gid);
    fs.chmodSync(logDir, 0o755);
  }

  // ---- service
  const svcArgs = [
    '--port', String(port),
    '--host', host,
    '--log-dir', logDir,
    '--pool-max', String(settings.poolMax),
    '--query-ms', String(settings.queryMs),
    '--scenario', scenario.id,
  ];
  if (opts.databaseUrl !== undefined) svcArgs.push('--database-url', opts.databaseUrl);
  // `slow-downstream`: the upstream the service calls, here in the lab's own process.
  const upstream = scenario.service.behaviour === 'upstream' ? await startUpstream(host, scenario.service.upstreamDelayMs) : null;
  if (upstream) {
    svcArgs.push('--upstream-url', upstream.url);
    say(`upstream on ${upstream.url} answers after ${scenario.service.upstreamDelayMs} ms`);
  }

  let resolveListening: ((pid: number) => void) | undefined;
  const listening = new Promise<number>((r) => (resolveListening = r));
  const svcProc = spawnNode('service', serviceJs, svcArgs, { nofile: settings.nofile, runAs: opts.runAs }, say, (line) => {
    try {
      const ev = JSON.parse(line) as { event?: string; pid?: number };
      if (ev.event === 'listening' && typeof ev.pid === 'number') resolveListening?.(ev.pid);
      else say(`service: ${line}`);
    } catch {
      say(`service: ${line}`);
    }
  });
  const service: Child = { proc: svcProc, pid: svcProc.pid ?? -1, exited: false, exitInfo: '' };
  const serviceExit = new Promise<string>((resolve) => {
    svcProc.on('exit', (code, sig) => {
      service.exited = true;
      service.exitInfo = sig ? `signal ${sig}` : `code ${code}`;
      resolve(service.exitInfo);
    });
    svcProc.on('error', (err) => {
      service.exited = true;
      service.exitInfo = err.message;
      resolve(err.message);
    });
  });

  if (scenario.service.behaviour === 'crash') {
    // `down`: the service is meant to die before it listens; its exit is the scenario.
    const info = await Promise.race([serviceExit, sleep(15000).then(() => 'still running after 15 s')]);
    say(`service exited at start-up (${info}); see ${path.join(logDir, 'error.log')}`);
  }
  const started = scenario.service.behaviour === 'crash' ? { pid: svcProc.pid ?? -1 } : await Promise.race([
    listening.then((pid) => ({ pid })),
    serviceExit.then((info) => ({ exited: info })),
    sleep(15000).then(() => ({ timeout: true as const })),
  ]);
  if (!('pid' in started)) {
    signal(svcProc.pid ?? -1, 'SIGKILL');
    const why = 'exited' in started ? `exited (${started.exited})` : 'did not start listening within 15 s';
    throw new Error(`lab service ${why}; see ${path.join(logDir, 'error.log')} and the lines above`);
  }
  service.pid = started.pid;
  if (scenario.service.behaviour !== 'crash') {
    say(`service pid ${service.pid} listening on ${host}:${port}, log dir ${logDir}`);
    serviceExit.then((info) => say(`service exited (${info})`), () => undefined);
  }
  // `supervise`: like systemd's Restart=always — a service that exits (a restart action killed it)
  // is started again, same settings, same port; the handle follows the new process.
  let supervising = opts.supervise === true;
  const respawn = (proc: ChildProcess) => {
    proc.once('exit', () => {
      if (!supervising) return;
      setTimeout(() => {
        if (!supervising) return;
        const next = spawnNode('service', serviceJs, svcArgs, { nofile: settings.nofile, runAs: opts.runAs }, say, (line) => {
          try {
            const ev = JSON.parse(line) as { event?: string; pid?: number };
            if (ev.event === 'listening' && typeof ev.pid === 'number') {
              service.pid = ev.pid;
              service.exited = false;
              say(`service restarted: pid ${ev.pid}`);
            }
          } catch {
            say(`service: ${line}`);
          }
        });
        service.proc = next;
        next.on('exit', (code, sig) => {
          service.exited = !supervising;
          service.exitInfo = sig ? `signal ${sig}` : `code ${code}`;
        });
        respawn(next);
      }, 200);
    });
  };
  if (supervising) respawn(svcProc);

  // ---- load
  let lastLoad: Record<string, number> = {};
  const loadProc = spawnNode(
    settings.rps > 0 ? 'loadgen' : 'loadgen (idle)',
    loadgenJs,
    ['--host', host, '--port', String(port), '--rps', String(Math.max(settings.rps, 0)), '--timeout-ms', String(settings.clientTimeoutMs)],
    { runAs: opts.runAs },
    say,
    (line) => {
      try {
        const ev = JSON.parse(line) as Record<string, unknown>;
        if (ev.event === 'start') {
          if (typeof ev.pid === 'number') load.pid = ev.pid;
          return;
        }
        const counts: Record<string, number> = {};
        for (const [k, v] of Object.entries(ev)) if (typeof v === 'number') counts[k] = v;
        lastLoad = counts;
      } catch {
        say(`loadgen: ${line}`);
      }
    },
  );
  const load: Child = { proc: loadProc, pid: loadProc.pid ?? -1, exited: false, exitInfo: '' };
  loadProc.on('exit', (code, sig) => {
    load.exited = true;
    load.exitInfo = sig ? `signal ${sig}` : `code ${code}`;
  });
  loadProc.on('error', (err) => {
    load.exited = true;
    load.exitInfo = err.message;
  });

  // if our own process exits without stop(), do not leave the lab running
  const killOnExit = () => {
    for (const c of [load, service]) {
      signal(c.pid, 'SIGKILL');
      signal(c.proc.pid ?? -1, 'SIGKILL');
    }
  };
  process.on('exit', killOnExit);

  const status = async (): Promise<LabStatus> => {
    let closeWait = 0;
    try {
      closeWait = await countCloseWait(port);
    } catch (err) {
      say(`status: ${(err as Error).message}`);
    }
    return {
      pid: service.pid,
      fdsOpen: countFds(service.pid),
      fdsLimit: readFdLimit(service.pid),
      closeWait,
      load: { ...lastLoad },
    };
  };

  const describe = (s: LabStatus) =>
    `fds ${s.fdsOpen ?? '?'}/${s.fdsLimit ?? '?'}, CLOSE_WAIT ${s.closeWait}` + (s.probe ? `, last probe: ${s.probe}` : '');

  const waitForFailure = async (timeoutMs: number): Promise<LabStatus> => {
    const deadline = Date.now() + timeoutMs;
    let last: LabStatus | undefined;
    let lastProbe: ProbeOutcome | undefined;
    const sign = scenario.failure;
    while (Date.now() < deadline) {
      if (sign === 'refused') {
        lastProbe = await probe(host, port, 1500);
        if (lastProbe === 'refused') return { ...(await status()), probe: 'refused' };
        await sleep(200);
        continue;
      }
      if (service.exited) throw new Error(`lab service exited (${service.exitInfo}) before the failure was reproduced`);
      const s = await status();
      last = s;
      if (sign === 'accept-queue-full') {
        const q = await listenerQueue(port).catch(() => null);
        if (q && q.queue >= q.backlog) {
          lastProbe = await probe(host, port, 2500);
          if (lastProbe === 'timeout') return { ...(await status()), probe: 'timeout' };
        }
        await sleep(300);
        continue;
      }
      const needCloseWait = scenario.service.behaviour !== 'fd-leak';
      if (s.fdsOpen !== null && s.fdsLimit !== null && s.fdsOpen >= s.fdsLimit - 2 && (!needCloseWait || s.closeWait > 0)) {
        // libuv's EMFILE trick accepts and closes pending connections: a fresh client is reset
        // (or, when the FIN beats its request, sees EOF and then an RST: still `reset` to the
        // probe). Now and then a probe lands on a just-freed descriptor and queues (timeout).
        const round: ProbeOutcome[] = [];
        for (let i = 0; i < 10 && Date.now() < deadline; i++) {
          lastProbe = await probe(host, port, 1500);
          round.push(lastProbe);
          // With a leak the last descriptor cycles: a request is accepted, fails to open its file: 500.
          if (lastProbe === 'reset' || (lastProbe === 'http-error' && !needCloseWait)) {
            const again = await status();
            return { ...again, probe: lastProbe };
          }
        }
        if (round.length >= 10 && round.filter((o) => o === 'eof').length >= 5 && !round.some((o) => o === 'ok' || o === 'http-error')) {
          const again = await status();
          return { ...again, probe: 'eof' };
        }
      }
      await sleep(500);
    }
    const tail = last ? `${describe({ ...last, probe: lastProbe })}, load ${JSON.stringify(last.load)}` : `last probe: ${lastProbe ?? 'none'}`;
    const want: Record<string, string> = {
      'fd-exhaustion': 'fds >= limit-2 and a fresh connection reset',
      'accept-queue-full': 'the accept queue full and a fresh connection timing out',
      refused: 'connections refused',
    };
    throw new Error(`${scenario.id}: failure not reproduced within ${Math.round(timeoutMs / 1000)} s (want ${want[sign ?? ''] ?? 'a failure'}): ${tail}`);
  };

  const waitReady = async (timeoutMs: number): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (service.exited) throw new Error(`lab service exited (${service.exitInfo})`);
      const r = await httpGet(host, port, '/metrics', Math.min(2000, Math.max(100, deadline - Date.now())));
      if (r?.status === 200) return;
      await sleep(200);
    }
    throw new Error(`lab service on ${host}:${port} did not answer GET /metrics within ${timeoutMs} ms`);
  };

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      supervising = false;
      const kids = [load, service];
      for (const c of kids) {
        // signal the node process itself; a runuser wrapper exits when its child does
        // (signalling the wrapper too makes it wait 2 s with "Session terminated, killing shell")
        signal(c.pid > 0 ? c.pid : (c.proc.pid ?? -1), 'SIGTERM');
      }
      const clean = await Promise.all(kids.map((c) => waitExit(c.proc, 2000)));
      kids.forEach((c, i) => {
        if (!clean[i] || alive(c.pid)) {
          signal(c.pid, 'SIGKILL');
          if (c.proc.pid !== undefined) signal(c.proc.pid, 'SIGKILL');
        }
      });
      await Promise.all(kids.map((c) => waitExit(c.proc, 2000)));
      process.removeListener('exit', killOnExit);
      await upstream?.close();
      say(`lab stopped (service pid ${service.pid}); logs kept in ${logDir}`);
    })();
    return stopping;
  };

  return {
    scenario: scenario.id,
    // The current service process (a supervised lab gets a new one after a restart).
    get pid() {
      return service.pid;
    },
    host,
    port,
    logDir,
    nofile: settings.nofile,
    settings,
    status,
    waitForFailure,
    waitReady,
    stop,
  };
}
