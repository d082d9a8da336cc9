// What the SSH benchmarks need from the machine, the machine they ran on, and the clean-up of
// everything they start (also on Ctrl-C).

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { TEST_USER } from '../test/helpers/sshd.js';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Binaries the SSH benchmarks run -> the Debian package that provides them. */
const REQUIRED: Record<string, string> = {
  '/usr/sbin/sshd': 'openssh-server',
  '/usr/bin/ssh': 'openssh-client',
  '/usr/bin/ssh-keygen': 'openssh-client',
  '/usr/bin/ansible': 'ansible',
  '/usr/bin/prlimit': 'util-linux',
  '/usr/bin/ss': 'iproute2',
};

function present(path: string): boolean {
  if (existsSync(path)) return true;
  const m = /^\/usr\/(s?bin)\/(.+)$/.exec(path);
  return m !== null && existsSync(`/${m[1]}/${m[2]}`);
}

function userExists(name: string): boolean {
  return spawnSync('id', ['-u', name], { stdio: 'ignore' }).status === 0;
}

function run(cmd: string, args: string[]): boolean {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 2, 2], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  return r.status === 0;
}

/**
 * Makes sure sshd, ssh, ansible and the SSH user `triage-test` are there. As root on Debian it
 * installs what is missing (saying so); otherwise it returns the exact commands to run.
 */
export function ensurePrerequisites(log: (line: string) => void): { ok: true } | { ok: false; problems: string[] } {
  const isRoot = process.getuid?.() === 0;
  const sudo = isRoot ? '' : 'sudo ';
  const problems: string[] = [];
  const missing = [...new Set(Object.entries(REQUIRED).filter(([bin]) => !present(bin)).map(([, pkg]) => pkg))];
  if (missing.length > 0) {
    const cmd = `apt-get install -y --no-install-recommends ${missing.join(' ')}`;
    const canInstall = isRoot && existsSync('/etc/debian_version') && present('/usr/bin/apt-get');
    if (!canInstall) {
      problems.push(`missing: ${Object.keys(REQUIRED).filter((b) => !present(b)).join(' ')}; run:  ${sudo}${cmd}`);
    } else {
      log(`bench: installing ${missing.join(' ')}: ${cmd}`);
      let ok = run('apt-get', ['install', '-y', '--no-install-recommends', ...missing]);
      if (!ok) {
        log('bench: install failed; apt-get update, then again');
        run('apt-get', ['update']);
        ok = run('apt-get', ['install', '-y', '--no-install-recommends', ...missing]);
      }
      const still = Object.keys(REQUIRED).filter((b) => !present(b));
      if (!ok || still.length > 0) problems.push(`installing ${missing.join(' ')} failed${still.length ? ` (still missing: ${still.join(' ')})` : ''}; run:  ${cmd}`);
    }
  }
  if (!userExists(TEST_USER)) {
    // Same user as the test suite (scripts/test-prereqs.mjs): clean home, not locked.
    if (isRoot) {
      log(`bench: creating the SSH user ${TEST_USER} (useradd -m -s /bin/bash ${TEST_USER}; usermod -p '*' ${TEST_USER})`);
      if (!run('useradd', ['-m', '-s', '/bin/bash', TEST_USER]) || !run('usermod', ['-p', '*', TEST_USER])) problems.push(`could not create user ${TEST_USER}`);
    } else {
      problems.push(`missing SSH user ${TEST_USER}; run:  sudo useradd -m -s /bin/bash ${TEST_USER} && sudo usermod -p '*' ${TEST_USER}`);
    }
  }
  if (!isRoot) problems.push('the SSH benchmarks start sshd and run the lab as another user: run `npm run bench` as root');
  else mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  return problems.length === 0 ? { ok: true } : { ok: false, problems };
}

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  node: string;
  os: string;
  date: string;
}

export function machineInfo(): Machine {
  let osName = 'unknown';
  try {
    osName = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? osName;
  } catch {
    // not Linux
  }
  return {
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    node: process.version,
    os: osName,
    date: new Date().toISOString(),
  };
}

// ---------------------------------------------------------------- clean-up

type Cleanup = () => Promise<void> | void;
/** Pending clean-ups, each wrapped so that it runs once whoever calls it first. */
const cleanups = new Set<() => Promise<void>>();
let signalsHooked = false;

/** Runs `fn` when the benchmark ends, fails, or is interrupted; returns the function that runs it now (once). */
export function onCleanup(fn: Cleanup): () => Promise<void> {
  hookSignals();
  let done: Promise<void> | undefined;
  const once = () => {
    cleanups.delete(once);
    done ??= Promise.resolve().then(fn);
    return done;
  };
  cleanups.add(once);
  return once;
}

/** Runs every pending clean-up (in reverse order of registration). */
export async function cleanupAll(): Promise<void> {
  for (const once of [...cleanups].reverse()) {
    try {
      await once();
    } catch (err) {
      process.stderr.write(`bench: clean-up failed: ${(err as Error).message}\n`);
    }
  }
}

function hookSignals(): void {
  if (signalsHooked) return;
  signalsHooked = true;
  let stopping = false;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    // Ctrl-C reaches us twice (the terminal's process group, and tsx relaying it): clean up once,
    // and let no repeat kill us halfway through.
    process.on(sig, () => {
      if (stopping) return;
      stopping = true;
      process.stderr.write(`\nbench: ${sig}: stopping what the benchmarks started\n`);
      const hardStop = setTimeout(() => process.exit(130), 10_000);
      hardStop.unref();
      void cleanupAll().finally(() => process.exit(130));
    });
  }
}

/** Installs the Ctrl-C / SIGTERM handler that runs the clean-ups (also done by the first onCleanup). */
export function handleSignals(): void {
  hookSignals();
}

/** Sends `sig` to a PID, ignoring one that is already gone. */
export function signalPid(pid: number | undefined, sig: NodeJS.Signals): void {
  if (pid === undefined || pid <= 0) return;
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/** The machine's CPU time so far (/proc/stat, all CPUs), in clock ticks: busy and total. */
export function cpuTicks(): { busy: number; total: number } {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = f;
    return { busy: user + nice + system + irq + softirq + steal, total: user + nice + system + idle + iowait + irq + softirq + steal };
  } catch {
    return { busy: 0, total: 0 };
  }
}

/** Share (0..1) of all CPUs that were busy between two cpuTicks() readings. */
export function busyShare(a: { busy: number; total: number }, b: { busy: number; total: number }): number {
  return b.total > a.total ? (b.busy - a.busy) / (b.total - a.total) : 0;
}
