import { readFile } from 'node:fs/promises';
import { NodeSSH, type Config as NodeSshConfig } from 'node-ssh';
import type { ClientChannel } from 'ssh2';
import { TriageError } from '../../core/errors.js';
import { CappedBuffer, DEFAULT_MAX_OUTPUT_BYTES, DEFAULT_TIMEOUT_MS, shellJoin, type CommandResult, type Executor, type RunOptions } from './executor.js';
import { checkKnownHosts, fingerprintOf } from './known-hosts.js';

/** How to reach one host. Resolved from the inventory; paths are absolute. */
export interface SshEndpoint {
  /** Inventory name, used in messages. */
  name: string;
  address: string;
  port: number;
  user: string;
  keyPath?: string;
  /** SSH agent socket path. */
  agentSocket?: string;
  hostKey: { fingerprint?: string; knownHosts?: string; acceptNew?: boolean };
  /** Tunnel through this host first. */
  jump?: SshEndpoint;
}

export interface SshTuning {
  /** Concurrent channels on the one connection; keep below sshd MaxSessions (default 10). */
  maxConcurrentCommands: number;
  commandTimeoutMs: number;
  connectTimeoutMs: number;
  maxOutputBytes: number;
  keepaliveIntervalMs: number;
}

export const DEFAULT_SSH_TUNING: SshTuning = {
  maxConcurrentCommands: 8,
  commandTimeoutMs: DEFAULT_TIMEOUT_MS,
  connectTimeoutMs: 10_000,
  maxOutputBytes: DEFAULT_MAX_OUTPUT_BYTES,
  keepaliveIntervalMs: 5000,
};

const CHANNEL_OPEN_RETRIES = 5;

/** The server refused a new channel (usually MaxSessions for a moment); retried. */
class ChannelOpenError extends TriageError {
  constructor(message: string) {
    super('ssh_dropped', message);
  }
}

/** Grace after the remote deadline before the channel is closed from our side. */
const LOCAL_GRACE_MS = 1500;

class Semaphore {
  private waiting: (() => void)[] = [];
  private used = 0;
  constructor(private readonly size: number) {}
  async acquire(): Promise<() => void> {
    if (this.used >= this.size) await new Promise<void>((r) => this.waiting.push(r));
    this.used++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.used--;
      this.waiting.shift()?.();
    };
  }
}

/**
 * Runs commands on one host over one SSH connection (node-ssh), opened on first use and shared by
 * every command of a run; commands run concurrently on their own channels, bounded by a semaphore.
 * Each command is wrapped in `timeout -s KILL` remotely and its channel is closed locally at the
 * deadline. Connection errors and drops fail the affected commands; they never throw out of band.
 */
export class SshExecutor implements Executor {
  readonly kind = 'ssh' as const;
  readonly host: string;
  private connection: Promise<NodeSSH> | null = null;
  private readonly jumps: NodeSSH[] = [];
  private readonly slots: Semaphore;
  private readonly tuning: SshTuning;
  private closed = false;
  /** Set when the host key was refused, so the error says why instead of "handshake failed". */
  private hostKeyProblem: string | null = null;
  private readonly warnings: string[] = [];
  private everConnected = false;
  private lastConnectError: TriageError | null = null;

  constructor(
    private readonly endpoint: SshEndpoint,
    tuning: Partial<SshTuning> = {},
    private readonly onWarning: (message: string) => void = () => {},
  ) {
    this.host = endpoint.name;
    this.tuning = { ...DEFAULT_SSH_TUNING, ...tuning };
    this.slots = new Semaphore(this.tuning.maxConcurrentCommands);
  }

  async run(argv: readonly string[], opts: RunOptions = {}): Promise<CommandResult> {
    if (argv.length === 0) throw new TriageError('input_invalid', 'empty command');
    if (this.closed) throw new TriageError('ssh_dropped', `${this.host}: executor is closed`);
    if (opts.signal?.aborted) throw new TriageError('aborted', `${argv[0]}: aborted before it started`);
    const release = await this.slots.acquire();
    try {
      for (let attempt = 0; ; attempt++) {
        const ssh = await this.connect();
        try {
          return await this.exec(ssh, argv, opts);
        } catch (err) {
          // sshd frees a session slot only after it has reaped the session's process, a moment
          // after the client sees the channel close: a burst can briefly exceed MaxSessions.
          if (!(err instanceof ChannelOpenError) || attempt >= CHANNEL_OPEN_RETRIES || opts.signal?.aborted) throw err;
          await new Promise((r) => setTimeout(r, 25 * 2 ** attempt));
        }
      }
    } finally {
      release();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const conn = this.connection;
    this.connection = null;
    if (conn) await conn.then((s) => s.dispose()).catch(() => {});
    for (const j of this.jumps.splice(0)) j.dispose();
  }

  /** The reason no connection could ever be made, or null once one was. */
  get unreachable(): TriageError | null {
    return this.everConnected ? null : this.lastConnectError;
  }

  private connect(): Promise<NodeSSH> {
    if (!this.connection) {
      const attempt = this.open(this.endpoint);
      this.connection = attempt;
      attempt.then(
        () => {
          this.everConnected = true;
        },
        (err: unknown) => {
          if (err instanceof TriageError) this.lastConnectError = err;
          if (this.connection === attempt) this.connection = null;
        },
      );
    }
    return this.connection;
  }

  private async open(ep: SshEndpoint): Promise<NodeSSH> {
    let sock: NodeSshConfig['sock'];
    if (ep.jump) {
      const jump = await this.open(ep.jump);
      this.jumps.push(jump);
      sock = await new Promise((resolve, reject) => {
        jump.connection?.forwardOut('127.0.0.1', 0, ep.address, ep.port, (err, stream) => {
          if (err) reject(new TriageError('ssh_connect', `${ep.name}: jump host ${ep.jump?.name} could not reach ${ep.address}:${ep.port}: ${err.message}`));
          else resolve(stream);
        });
      });
    }
    const ssh = new NodeSSH();
    const config: NodeSshConfig = {
      host: ep.address,
      port: ep.port,
      username: ep.user,
      readyTimeout: this.tuning.connectTimeoutMs,
      keepaliveInterval: this.tuning.keepaliveIntervalMs,
      keepaliveCountMax: 3,
      hostVerifier: await this.hostVerifier(ep),
      ...(sock ? { sock } : {}),
    };
    if (ep.keyPath) {
      try {
        config.privateKey = await readFile(ep.keyPath, 'utf8');
      } catch (err) {
        throw new TriageError('ssh_auth', `${ep.name}: cannot read SSH key ${ep.keyPath}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      }
    }
    if (ep.agentSocket) config.agent = ep.agentSocket;
    try {
      await ssh.connect(config);
    } catch (err) {
      ssh.dispose();
      throw this.connectError(ep, err);
    }
    const client = ssh.connection;
    client?.on('error', (err) => this.onWarning(`${ep.name}: SSH connection error: ${err.message}`));
    client?.on('close', () => {
      if (ep === this.endpoint) this.connection = null;
    });
    return ssh;
  }

  private async hostVerifier(ep: SshEndpoint): Promise<(key: Buffer) => boolean> {
    const { fingerprint, knownHosts, acceptNew } = ep.hostKey;
    let knownText: string | null = null;
    if (knownHosts) {
      try {
        knownText = await readFile(knownHosts, 'utf8');
      } catch (err) {
        throw new TriageError('ssh_host_key', `${ep.name}: cannot read known_hosts ${knownHosts}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      }
    }
    return (key: Buffer) => {
      const presented = fingerprintOf(key);
      if (fingerprint !== undefined) {
        if (presented === fingerprint.replace(/=+$/, '')) return true;
        this.hostKeyProblem = `${ep.name}: host key ${presented} does not match the pinned ${fingerprint}`;
        return false;
      }
      if (knownText !== null) {
        const verdict = checkKnownHosts(knownText, ep.address, ep.port, key);
        if (verdict === 'match') return true;
        if (verdict === 'unknown' && acceptNew) return this.acceptNew(ep, presented);
        this.hostKeyProblem =
          verdict === 'mismatch'
            ? `${ep.name}: host key ${presented} differs from the one in ${knownHosts}: possible man in the middle`
            : `${ep.name}: host ${ep.address}:${ep.port} is not in ${knownHosts} (its key is ${presented})`;
        return false;
      }
      if (acceptNew) return this.acceptNew(ep, presented);
      this.hostKeyProblem = `${ep.name}: no host key to check against: set hostKey.fingerprint to ${presented} or hostKey.knownHosts`;
      return false;
    };
  }

  private acceptNew(ep: SshEndpoint, presented: string): boolean {
    const message = `${ep.name}: accepting unverified host key ${presented} (hostKey.acceptNew is for labs only)`;
    if (!this.warnings.includes(message)) {
      this.warnings.push(message);
      this.onWarning(message);
    }
    return true;
  }

  private connectError(ep: SshEndpoint, err: unknown): TriageError {
    if (this.hostKeyProblem) return new TriageError('ssh_host_key', this.hostKeyProblem, { cause: err });
    const e = err as NodeJS.ErrnoException & { level?: string };
    const msg = e?.message ?? String(err);
    if (e?.level === 'client-authentication' || /authentication methods failed/i.test(msg)) {
      return new TriageError('ssh_auth', `${ep.name}: SSH login as ${ep.user} refused (key not authorized?)`, { cause: err });
    }
    if (/timed out/i.test(msg) || e?.code === 'ETIMEDOUT') {
      return new TriageError('ssh_timeout', `${ep.name}: no SSH handshake with ${ep.address}:${ep.port} within ${this.tuning.connectTimeoutMs} ms`, { cause: err });
    }
    return new TriageError('ssh_connect', `${ep.name}: cannot connect to ${ep.address}:${ep.port}: ${e?.code ?? msg}`, { cause: err });
  }

  private exec(ssh: NodeSSH, argv: readonly string[], opts: RunOptions): Promise<CommandResult> {
    const client = ssh.connection;
    if (!client) return Promise.reject(new TriageError('ssh_dropped', `${this.host}: not connected`));
    const timeoutMs = opts.timeoutMs ?? this.tuning.commandTimeoutMs;
    const cap = opts.maxOutputBytes ?? this.tuning.maxOutputBytes;
    const remoteSeconds = Math.max(1, Math.ceil(timeoutMs / 1000));
    const command = shellJoin(['timeout', '-s', 'KILL', String(remoteSeconds), ...argv]);
    const started = performance.now();
    const name = argv[0] ?? 'command';
    return new Promise((resolve, reject) => {
      let channel: ClientChannel | null = null;
      let failure: TriageError | null = null;
      let exitCode: number | null = null;
      let exitSignal: string | null = null;
      let exited = false;
      const out = new CappedBuffer(cap);
      const err = new CappedBuffer(cap);
      const fail = (why: TriageError) => {
        failure ??= why;
        channel?.close();
        finish();
      };
      const timer = setTimeout(
        () => fail(new TriageError('command_timeout', `${name}: no answer within ${timeoutMs} ms on ${this.host}`)),
        remoteSeconds * 1000 + LOCAL_GRACE_MS,
      );
      const onAbort = () => fail(new TriageError('aborted', `${name}: aborted`));
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      const onClientGone = () => fail(new TriageError('ssh_dropped', `${name}: SSH connection to ${this.host} dropped mid-command`));
      client.once('close', onClientGone);
      let settled = false;
      const finish = () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        client.removeListener('close', onClientGone);
        if (failure) return reject(failure);
        const durationMs = performance.now() - started;
        if (!exited && !out.truncated) {
          return reject(new TriageError('ssh_dropped', `${name}: channel closed without an exit status on ${this.host}`));
        }
        if ((exitCode === 137 || exitSignal === 'KILL' || exitSignal === 'SIGKILL') && durationMs >= remoteSeconds * 1000 - 50 && !out.truncated) {
          return reject(new TriageError('command_timeout', `${name}: killed at its ${remoteSeconds} s deadline on ${this.host}`));
        }
        resolve({ argv, exitCode, signal: exitSignal, stdout: out.text(), stderr: err.text(), truncated: out.truncated || err.truncated, durationMs });
      };
      try {
        client.exec(command, (e, ch) => {
          if (e) return fail(new ChannelOpenError(`${name}: cannot open a channel on ${this.host}: ${e.message}`));
          channel = ch;
          if (settled) return ch.close();
          ch.on('data', (c: Buffer) => {
            out.push(c);
            if (out.full && !exited) {
              out.cut();
              ch.close();
            }
          });
          ch.stderr.on('data', (c: Buffer) => err.push(c));
          ch.on('exit', (code: number | null, signal?: string) => {
            exited = true;
            exitCode = code ?? null;
            exitSignal = signal ?? null;
          });
          ch.on('close', finish);
          ch.on('error', (e2: Error) => fail(new TriageError('ssh_dropped', `${name}: channel error on ${this.host}: ${e2.message}`)));
          ch.end();
        });
      } catch (e) {
        fail(new TriageError('ssh_dropped', `${name}: ${(e as Error).message}`));
      }
    });
  }
}
