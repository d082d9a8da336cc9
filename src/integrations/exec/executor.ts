import { TriageError } from '../../core/errors.js';

/** Per-command options. Units: milliseconds and bytes. */
export interface RunOptions {
  /** Deadline for the whole command; enforced where it runs and by the caller. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Cap on stdout and stderr each; past it output is dropped and `truncated` is set. */
  maxOutputBytes?: number;
}

/** A command that ran to completion (any exit code). Failures to run at all are thrown as TriageError. */
export interface CommandResult {
  argv: readonly string[];
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  truncated: boolean;
  durationMs: number;
}

/**
 * Runs argv on one host. Implementations never pass text through a local shell; the SSH one
 * quotes every argument for the remote login shell. `run` rejects with a TriageError whose code
 * says why the command could not complete: `command_timeout`, `aborted`, `ssh_*`, `command_failed`.
 */
export interface Executor {
  readonly kind: 'local' | 'ssh';
  /** The host this executor runs commands on, as the user named it. */
  readonly host: string;
  run(argv: readonly string[], opts?: RunOptions): Promise<CommandResult>;
  close(): Promise<void>;
}

export const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_OUTPUT_BYTES = 1024 * 1024;

/** Quotes one argument for a POSIX shell: the only way argv crosses to a remote login shell. */
export function shellQuote(arg: string): string {
  if (arg.includes('\0')) throw new TriageError('input_invalid', 'argument contains a NUL byte');
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function shellJoin(argv: readonly string[]): string {
  return argv.map(shellQuote).join(' ');
}

/** Collects a stream's bytes up to a cap, remembering whether more arrived. */
export class CappedBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  truncated = false;

  constructor(private readonly cap: number) {}

  push(chunk: Buffer): void {
    if (this.size >= this.cap) {
      this.truncated = true;
      return;
    }
    const room = this.cap - this.size;
    const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
    if (part.length < chunk.length) this.truncated = true;
    this.chunks.push(part);
    this.size += part.length;
  }

  get full(): boolean {
    return this.size >= this.cap;
  }

  /** The reader stops reading at the cap (closes the stream): what would have followed is lost. */
  cut(): void {
    this.truncated = true;
  }

  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

/** The error a caller sees when a command finished but failed; keeps the tail of stderr. */
export function commandFailed(result: CommandResult): TriageError {
  const err = result.stderr.trim().split('\n').slice(-1)[0] ?? '';
  const how = result.exitCode !== null ? `exit ${result.exitCode}` : `signal ${result.signal ?? 'unknown'}`;
  return new TriageError('command_failed', `${result.argv[0] ?? 'command'} failed (${how})${err ? `: ${err.slice(0, 200)}` : ''}`);
}
