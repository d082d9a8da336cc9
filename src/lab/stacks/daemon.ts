/**
 * Running a lab daemon (PostgreSQL, pgbouncer) as an unprivileged user and stopping it: the pieces
 * both harnesses share.
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';

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

/**
 * Sends `signal` to the daemon's own pid (not the runuser wrapper, which would turn it into
 * SIGTERM), SIGKILLs both after `graceMs`, and waits for the pid to vanish.
 */
export async function stopDaemon(o: { proc: ChildProcess; pid: number; signal: NodeJS.Signals; exited: () => boolean; graceMs: number }): Promise<void> {
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
}
