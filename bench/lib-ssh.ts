// The SSH side of the benchmarks: a private sshd on loopback (the test suite's harness), the
// triage settings that reach it, the argv each investigation runs, and the `ssh` command line an
// engineer's script would use for one of those commands.

import { spawn } from 'node:child_process';
import { ConfigSchema, type Settings } from '../src/config.js';
import { shellJoin, type CommandResult, type RunOptions } from '../src/integrations/exec/executor.js';
import { SshExecutor } from '../src/integrations/exec/ssh.js';
import { startSshd, type Sshd } from '../test/helpers/sshd.js';
import { onCleanup } from './lib-env.js';

export { TEST_USER } from '../test/helpers/sshd.js';
export type { Sshd } from '../test/helpers/sshd.js';

/** A private sshd (generated keys, login user triage-test), stopped by the benchmark's clean-up. */
export async function startBenchSshd(): Promise<Sshd & { close(): Promise<void> }> {
  const sshd = await startSshd();
  const close = onCleanup(() => sshd.stop());
  return Object.assign(sshd, { close });
}

/** One inventory host per target, all on the one sshd; the service port is what differs. */
export function sshSettings(sshd: Sshd, hosts: string[], investigation: Record<string, unknown> = {}): Settings {
  const config = ConfigSchema.parse({
    hosts: Object.fromEntries(
      hosts.map((name) => [
        name,
        { address: '127.0.0.1', ssh: { port: sshd.port, user: sshd.user, keyPath: sshd.keyPath, hostKey: { fingerprint: sshd.hostKeyFingerprint } } },
      ]),
    ),
    investigation: { probePath: '/xx/checkalive', ...investigation },
  });
  return { config, file: null, sshAuthSock: undefined, databaseUrl: undefined, missingSecrets: [] };
}

/** One remote command an SshExecutor ran: its argv (before the `timeout` wrapper) and when, in performance.now() ms. */
export interface RecordedCommand {
  argv: string[];
  startMs: number;
  endMs: number;
}

/** The remote commands SshExecutors ran, by inventory host, in the order they were issued. */
export class CommandRecorder {
  readonly byHost = new Map<string, RecordedCommand[]>();
  private restore: (() => void) | null = null;

  /** Starts recording every `SshExecutor.run`; the first command's time includes the SSH connect. */
  start(): this {
    if (this.restore) return this;
    const original = SshExecutor.prototype.run;
    const byHost = this.byHost;
    SshExecutor.prototype.run = async function (this: SshExecutor, argv: readonly string[], opts?: RunOptions): Promise<CommandResult> {
      const rec: RecordedCommand = { argv: [...argv], startMs: performance.now(), endMs: Number.NaN };
      const list = byHost.get(this.host) ?? [];
      list.push(rec);
      byHost.set(this.host, list);
      try {
        return await original.call(this, argv, opts);
      } finally {
        rec.endMs = performance.now();
      }
    };
    this.restore = () => {
      SshExecutor.prototype.run = original;
    };
    return this;
  }

  stop(): void {
    this.restore?.();
    this.restore = null;
  }

  clear(): void {
    this.byHost.clear();
  }

  argv(host: string): string[][] {
    return (this.byHost.get(host) ?? []).map((c) => c.argv);
  }

  /** From the first command's start (connect included) to the last command's end, in ms. */
  spanMs(host: string): number {
    const list = this.byHost.get(host) ?? [];
    if (list.length === 0) return 0;
    return Math.max(...list.map((c) => c.endMs)) - Math.min(...list.map((c) => c.startMs));
  }
}

/** The `ssh` argv that runs one command on the bench sshd, as a script would: a new process and connection each time. */
export function sshArgv(sshd: Sshd, argv: readonly string[]): string[] {
  return [
    '-F', '/dev/null',
    '-i', sshd.keyPath,
    '-p', String(sshd.port),
    '-o', 'BatchMode=yes',
    '-o', 'IdentitiesOnly=yes',
    '-o', `UserKnownHostsFile=${sshd.knownHostsPath}`,
    '-o', 'StrictHostKeyChecking=yes',
    '-o', 'LogLevel=ERROR',
    `${sshd.user}@127.0.0.1`,
    shellJoin(argv),
  ];
}

/** Runs `ssh ... 'command'` and resolves with its exit code and output size once it has exited. */
export function runSsh(sshd: Sshd, argv: readonly string[]): Promise<{ code: number | null; stdoutBytes: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('ssh', sshArgv(sshd, argv), { stdio: ['ignore', 'pipe', 'pipe'] });
    let bytes = 0;
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (bytes += c.length));
    child.stderr.on('data', (c: Buffer) => {
      if (stderr.length < 4096) stderr += c.toString('utf8');
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdoutBytes: bytes, stderr }));
  });
}
