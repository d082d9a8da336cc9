import { spawn } from 'node:child_process';
import { TriageError } from '../../core/errors.js';
import { CappedBuffer, DEFAULT_MAX_OUTPUT_BYTES, DEFAULT_TIMEOUT_MS, type CommandResult, type Executor, type RunOptions } from './executor.js';

/** Runs commands on this machine with spawn(argv): no shell, a deadline, capped output. */
export class LocalExecutor implements Executor {
  readonly kind = 'local' as const;

  constructor(
    readonly host = 'localhost',
    private readonly defaults: { timeoutMs?: number; maxOutputBytes?: number } = {},
  ) {}

  run(argv: readonly string[], opts: RunOptions = {}): Promise<CommandResult> {
    const timeoutMs = opts.timeoutMs ?? this.defaults.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const cap = opts.maxOutputBytes ?? this.defaults.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
    const [file, ...args] = argv;
    if (file === undefined) return Promise.reject(new TriageError('input_invalid', 'empty command'));
    if (opts.signal?.aborted) return Promise.reject(new TriageError('aborted', `${file}: aborted before it started`));
    const started = performance.now();
    return new Promise((resolve, reject) => {
      const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' } });
      const out = new CappedBuffer(cap);
      const err = new CappedBuffer(cap);
      let failure: TriageError | null = null;
      const kill = (why: TriageError) => {
        failure ??= why;
        child.kill('SIGKILL');
      };
      const timer = setTimeout(() => kill(new TriageError('command_timeout', `${file}: no answer within ${timeoutMs} ms`)), timeoutMs);
      const onAbort = () => kill(new TriageError('aborted', `${file}: aborted`));
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      child.stdout.on('data', (c: Buffer) => {
        out.push(c);
        if (out.full && child.exitCode === null) {
          out.cut();
          child.kill('SIGKILL');
        }
      });
      child.stderr.on('data', (c: Buffer) => err.push(c));
      child.on('error', (e: NodeJS.ErrnoException) => {
        failure ??= new TriageError('command_failed', e.code === 'ENOENT' ? `${file}: not installed (not found in PATH)` : `${file}: ${e.message}`, { cause: e });
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        if (failure) return reject(failure);
        resolve({
          argv,
          exitCode: code,
          signal,
          stdout: out.text(),
          stderr: err.text(),
          truncated: out.truncated || err.truncated,
          durationMs: performance.now() - started,
        });
      });
    });
  }

  async close(): Promise<void> {}
}
