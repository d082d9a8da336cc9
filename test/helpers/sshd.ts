// A real OpenSSH sshd on a loopback port, for integration tests.
//
// Needs root (sshd must switch to the login user) and /usr/sbin/sshd; `npm test` runs
// scripts/test-prereqs.mjs first, which installs openssh-server and creates TEST_USER.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { chmod, chown, copyFile, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { freePort } from './ports.js';

const execFileP = promisify(execFile);

export const TEST_USER = 'triage-test';

/**
 * A `loginShell` that records every command line it is sent (base64, one per line) in
 * `Sshd.commandLog`, then runs it with `/bin/bash -c` as the user's shell would.
 */
export const LOGGING_SHELL = fileURLToPath(new URL('../fixtures/hostile/logging-shell.sh', import.meta.url));

const SSHD = '/usr/sbin/sshd';
const SSH_KEYGEN = 'ssh-keygen';
const READY_TIMEOUT_MS = 10_000;
const MAX_STDERR = 64 * 1024;

export interface Sshd {
  host: '127.0.0.1';
  port: number;
  user: string;
  /** Temp dir holding keys, config, known_hosts; removed by stop(). */
  dir: string;
  /** Authorized ed25519 private key, mode 0600. */
  keyPath: string;
  /** A valid ed25519 private key that is NOT authorized. */
  otherKeyPath: string;
  /** Contains `[127.0.0.1]:PORT ssh-ed25519 AAAA...`. */
  knownHostsPath: string;
  /** 'SHA256:...' as `ssh-keygen -lf` prints it for the host public key. */
  hostKeyFingerprint: string;
  pid: number;
  /** Kills sshd and its whole process tree, waits for sshd to exit, removes dir. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL sshd and all its per-connection children (simulates a dropped connection). */
  kill(): void;
  /** With `loginShell`: the file the shell is given to log to (owned by the user), else null. */
  commandLog: string | null;
  /**
   * With `LOGGING_SHELL`: every command line sshd was asked to run so far, decoded, in order
   * ("-" for a session without a command). Empty without a `loginShell`.
   */
  commands(): string[];
}

export interface StartSshdOptions {
  /** Login user; default TEST_USER. */
  user?: string;
  /** sshd MaxSessions (sessions per connection); default 10. */
  maxSessions?: number;
  /**
   * An executable every session goes through (sshd `ForceCommand`) instead of the user's shell
   * running the client's command itself: it is copied into the sshd's dir and run as
   * `PROGRAM LOGFILE` by the user's shell, with the client's command line in
   * `SSH_ORIGINAL_COMMAND`; LOGFILE (`Sshd.commandLog`) exists and is writable by the user.
   * `LOGGING_SHELL` logs each command line and runs it. Unset: sshd runs commands as usual.
   */
  loginShell?: string;
}

// ---------------------------------------------------------------------------
// Process-tree helpers (Linux /proc)
// ---------------------------------------------------------------------------

function parentMap(): Map<number, number[]> {
  const children = new Map<number, number[]>();
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return children;
  }
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // "pid (comm) state ppid ...": comm may contain spaces and parens; parse after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ppid = Number(rest[1]);
    if (!Number.isFinite(ppid)) continue;
    const list = children.get(ppid);
    if (list) list.push(Number(name));
    else children.set(ppid, [Number(name)]);
  }
  return children;
}

function descendants(root: number): number[] {
  const children = parentMap();
  const out: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    for (const c of children.get(pid) ?? []) {
      out.push(c);
      queue.push(c);
    }
  }
  return out;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/**
 * SIGKILL root and every descendant. Freezes the tree with SIGSTOP first (re-scanning until
 * stable) so nothing forks or gets reparented to init between the scan and the kill.
 */
function killTree(root: number): void {
  const all = new Set<number>([root]);
  signal(root, 'SIGSTOP');
  for (let i = 0; i < 5; i++) {
    let added = false;
    for (const pid of all) {
      for (const d of descendants(pid)) {
        if (!all.has(d)) {
          all.add(d);
          signal(d, 'SIGSTOP');
          added = true;
        }
      }
    }
    if (!added) break;
  }
  for (const pid of all) signal(pid, 'SIGKILL');
}

// ---------------------------------------------------------------------------
// Cleanup on exit
// ---------------------------------------------------------------------------

const live = new Map<number, { dir: string; child: ChildProcess }>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const [pid, { dir, child }] of live) {
      if (child.exitCode === null && child.signalCode === null) killTree(pid);
      try {
        rmSync(dir, { recursive: true, force: true });
      } catch {
        // best effort
      }
    }
    live.clear();
  });
}

// ---------------------------------------------------------------------------
// Start
// ---------------------------------------------------------------------------

async function keygen(path: string): Promise<void> {
  await execFileP(SSH_KEYGEN, ['-q', '-t', 'ed25519', '-N', '', '-C', 'triage-test-harness', '-f', path]);
}

function sshdConfig(o: {
  port: number;
  dir: string;
  hostKey: string;
  user: string;
  maxSessions: number;
  perSourcePenalties: boolean;
  forceCommand?: string;
}): string {
  const lines = [
    `Port ${o.port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${o.hostKey}`,
    `PidFile ${join(o.dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${join(o.dir, 'authorized_keys')}`,
    'StrictModes no',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PubkeyAuthentication yes',
    'UsePAM no',
    'PermitRootLogin no',
    `AllowUsers ${o.user}`,
    `MaxSessions ${o.maxSessions}`,
    'MaxStartups 100:30:200',
    'LogLevel ERROR',
    'PrintMotd no',
    'UseDNS no',
  ];
  // OpenSSH >= 9.8 penalises sources that fail auth or connect without authenticating (our
  // readiness probe, the "refused key" tests); everything here comes from 127.0.0.1.
  if (o.perSourcePenalties) lines.push('PerSourcePenalties no');
  if (o.forceCommand) lines.push(`ForceCommand ${o.forceCommand}`);
  return lines.join('\n') + '\n';
}

/** Writes the config and validates it with `sshd -t`; drops options this sshd does not know. */
async function writeValidConfig(
  configPath: string,
  base: Omit<Parameters<typeof sshdConfig>[0], 'perSourcePenalties'>,
): Promise<void> {
  for (const perSourcePenalties of [true, false]) {
    await writeFile(configPath, sshdConfig({ ...base, perSourcePenalties }), { mode: 0o644 });
    try {
      await execFileP(SSHD, ['-t', '-f', configPath]);
      return;
    } catch (err) {
      const stderr = String((err as { stderr?: unknown }).stderr ?? err);
      if (perSourcePenalties && /PerSourcePenalties/i.test(stderr)) continue;
      throw new Error(`sshd -t rejected ${configPath}:\n${stderr.trim()}`);
    }
  }
}

/** Resolves once the port accepts a TCP connection and sends an SSH-2.0 banner. */
function probeBanner(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    let buf = '';
    let done = false;
    const sock = connect({ host: '127.0.0.1', port });
    const finish = (ok: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => {
      buf += d;
      if (buf.includes('SSH-2.0')) finish(true);
    });
    sock.on('error', () => finish(false));
    sock.on('close', () => finish(false));
  });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Spawned {
  child: ChildProcess;
  stderr: () => string;
}

async function spawnAndWait(configPath: string, port: number): Promise<Spawned> {
  const child = spawn(SSHD, ['-D', '-e', '-f', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => {
    if (stderr.length < MAX_STDERR) stderr += d;
  });
  let exited: string | null = null;
  let spawnError: Error | null = null;
  child.on('error', (e) => (spawnError = e));
  child.on('exit', (code, sig) => (exited = sig ?? `code ${code}`));

  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (spawnError) throw new Error(`sshd failed to start: ${(spawnError as Error).message}`);
    if (exited !== null) break;
    if (await probeBanner(port, Math.min(1000, Math.max(50, deadline - Date.now())))) {
      return { child, stderr: () => stderr };
    }
    await sleep(50);
  }
  // Give a just-exited sshd a moment to flush stderr.
  await sleep(50);
  if (exited === null) killTree(child.pid!);
  const why = exited !== null ? `sshd exited (${exited})` : `no SSH banner on 127.0.0.1:${port} within ${READY_TIMEOUT_MS} ms`;
  const err = new Error(`${why}; sshd stderr:\n${stderr.trim() || '(empty)'}`);
  (err as Error & { sshdStderr?: string }).sshdStderr = stderr;
  throw err;
}

export async function startSshd(opts: StartSshdOptions = {}): Promise<Sshd> {
  if (!existsSync(SSHD)) {
    throw new Error(
      'sshd not found: run `npm test` as root on Debian (it installs openssh-server), or: apt-get install -y openssh-server',
    );
  }
  const user = opts.user ?? TEST_USER;
  const maxSessions = opts.maxSessions ?? 10;

  // sshd's privilege-separation directory (test-prereqs creates it; /run may be a fresh tmpfs).
  try {
    mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  } catch {
    // not root: sshd -t will say what is wrong
  }

  const dir = await mkdtemp(join(tmpdir(), 'triage-sshd-'));
  try {
    // sshd reads authorized_keys with the target user's privileges.
    await chmod(dir, 0o755);
    const hostKey = join(dir, 'ssh_host_ed25519_key');
    const keyPath = join(dir, 'id_ed25519');
    const otherKeyPath = join(dir, 'id_ed25519_other');
    await Promise.all([keygen(hostKey), keygen(keyPath), keygen(otherKeyPath)]);
    await chmod(keyPath, 0o600);
    await chmod(otherKeyPath, 0o600);
    await writeFile(join(dir, 'authorized_keys'), await readFile(`${keyPath}.pub`, 'utf8'), { mode: 0o644 });
    await chmod(join(dir, 'authorized_keys'), 0o644);

    const hostPub = (await readFile(`${hostKey}.pub`, 'utf8')).trim().split(/\s+/);
    const { stdout: fp } = await execFileP(SSH_KEYGEN, ['-lf', `${hostKey}.pub`]);
    const hostKeyFingerprint = fp.trim().split(/\s+/)[1] ?? '';
    if (!hostKeyFingerprint.startsWith('SHA256:')) {
      throw new Error(`unexpected ssh-keygen -lf output: ${fp}`);
    }

    const configPath = join(dir, 'sshd_config');
    const knownHostsPath = join(dir, 'known_hosts');

    let commandLog: string | null = null;
    let forceCommand: string | undefined;
    if (opts.loginShell !== undefined) {
      const shell = join(dir, 'login-shell');
      commandLog = join(dir, 'commands.log');
      await copyFile(opts.loginShell, shell);
      await chmod(shell, 0o755);
      await writeFile(commandLog, '', { mode: 0o600 });
      const [uid, gid] = await Promise.all(['-u', '-g'].map(async (flag) => Number((await execFileP('id', [flag, user])).stdout.trim())));
      await chown(commandLog, uid ?? -1, gid ?? -1);
      // sshd hands this line to the user's shell (`-c`); mkdtemp paths need no quoting.
      forceCommand = `${shell} ${commandLog}`;
    }

    // freePort() races with other processes; retry when the bind fails.
    let spawned: Spawned | undefined;
    let port = 0;
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      await writeValidConfig(configPath, { port, dir, hostKey, user, maxSessions, ...(forceCommand ? { forceCommand } : {}) });
      try {
        spawned = await spawnAndWait(configPath, port);
        break;
      } catch (err) {
        const stderr = (err as Error & { sshdStderr?: string }).sshdStderr ?? '';
        if (attempt < 3 && /Address already in use|Cannot bind any address/i.test(stderr)) continue;
        throw err;
      }
    }

    await writeFile(knownHostsPath, `[127.0.0.1]:${port} ${hostPub[0]} ${hostPub[1]}\n`, { mode: 0o644 });

    const child = spawned.child;
    const pid = child.pid!;
    installExitHook();
    live.set(pid, { dir, child });

    let stopping: Promise<void> | undefined;
    const exitedP = new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });

    const sshd: Sshd = {
      host: '127.0.0.1',
      port,
      user,
      dir,
      keyPath,
      otherKeyPath,
      knownHostsPath,
      hostKeyFingerprint,
      pid,
      kill() {
        if (child.exitCode === null && child.signalCode === null) killTree(pid);
      },
      commandLog,
      commands() {
        if (commandLog === null) return [];
        let text: string;
        try {
          text = readFileSync(commandLog, 'utf8');
        } catch {
          return []; // stopped: the dir is gone
        }
        return text
          .split('\n')
          .filter((l) => l !== '')
          .map((l) => (l === '-' ? '-' : Buffer.from(l, 'base64').toString('utf8')));
      },
      stop() {
        stopping ??= (async () => {
          // SIGKILL the whole tree: a SIGTERMed listener would leave established sessions running.
          if (child.exitCode === null && child.signalCode === null) killTree(pid);
          await Promise.race([exitedP, sleep(2000)]);
          live.delete(pid);
          rmSync(dir, { recursive: true, force: true });
        })();
        return stopping;
      },
    };
    return sshd;
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
