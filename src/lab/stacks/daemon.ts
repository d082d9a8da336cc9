/**
 * Running a lab daemon (PostgreSQL, pgbouncer) as an unprivileged user and stopping it: the pieces
 * both harnesses share.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';

/** Daemons run with a fixed environment: C messages, nothing of the caller's. */
export const DAEMON_ENV = { LC_ALL: 'C', PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };

export const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** uid and gid of a local user from /etc/passwd, or null. */
export function lookupUser(name: string): { uid: number; gid: number } | null {
  let passwd = '';
  try {
    passwd = fs.readFileSync('/etc/passwd', 'utf8');
  } catch {
    return null;
  }
  for (const line of passwd.split('\n')) {
    const f = line.split(':');
    if (f[0] === name && f[2] !== undefined && f[3] !== undefined) return { uid: Number(f[2]), gid: Number(f[3]) };
  }
  return null;
}

export function findRunuser(): string | null {
  for (const p of ['/usr/sbin/runuser', '/sbin/runuser', '/usr/bin/runuser', '/bin/runuser']) if (fs.existsSync(p)) return p;
  return null;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function kill(pid: number, sig: NodeJS.Signals): void {
  if (pid <= 0) return;
  try {
    process.kill(pid, sig);
  } catch {
    /* gone */
  }
}

/** `fn` run at most once: later calls get the first call's promise. */
export function once<T>(fn: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | null = null;
  return () => (p ??= fn());
}

/**
 * Sends `signal` to the daemon's own pid (not the runuser wrapper, which would turn it into
 * SIGTERM), SIGKILLs both after `graceMs`, waits for the pid to vanish, then unregisters the
 * process-exit hook and removes the daemon's files.
 */
export async function stopDaemon(o: { proc: ChildProcess; pid: number; signal: NodeJS.Signals; exited: () => boolean; graceMs: number; exitHook: () => void; removeFiles: () => void }): Promise<void> {
  const gone = new Promise<void>((r) => (o.exited() ? r() : o.proc.once('exit', () => r())));
  kill(o.pid, o.signal);
  let timer: NodeJS.Timeout | undefined;
  const late = await Promise.race([gone.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), o.graceMs)))]);
  clearTimeout(timer);
  if (late) {
    kill(o.pid, 'SIGKILL');
    if (o.proc.pid !== undefined) kill(o.proc.pid, 'SIGKILL');
    await Promise.race([gone, delay(o.graceMs)]);
  }
  for (let i = 0; i < 50 && isAlive(o.pid); i++) await delay(100);
  process.removeListener('exit', o.exitHook);
  o.removeFiles();
}

/** Calls `onLine` for each line of a child's output stream. */
export function lines(stream: NodeJS.ReadableStream | null, onLine: (l: string) => void): void {
  if (!stream) return;
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (d: string) => {
    buf += d;
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      onLine(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
  stream.on('end', () => {
    if (buf !== '') onLine(buf);
    buf = '';
  });
}

/** A daemon started by `spawnDaemon`: whether it has exited, why it could not start, its last lines. */
export interface Daemon {
  proc: ChildProcess;
  exited(): boolean;
  spawnError(): Error | null;
  /** Its most recent output lines (stdout and stderr), oldest first. */
  recent: string[];
}

/** Spawns argv (no shell) with DAEMON_ENV, keeping its last `keep` output lines. */
export function spawnDaemon(argv: readonly string[], opts: { keep: number; onLine?: (l: string) => void }): Daemon {
  const [cmd, ...args] = argv as [string, ...string[]];
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: DAEMON_ENV });
  let exited = false;
  let spawnError: Error | null = null;
  proc.on('error', (err) => {
    spawnError = err;
    exited = true;
  });
  proc.on('exit', () => {
    exited = true;
  });
  const recent: string[] = [];
  const onLine = (l: string) => {
    recent.push(l);
    if (recent.length > opts.keep) recent.shift();
    opts.onLine?.(l);
  };
  lines(proc.stdout, onLine);
  lines(proc.stderr, onLine);
  return { proc, exited: () => exited, spawnError: () => spawnError, recent };
}
