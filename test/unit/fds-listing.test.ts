import { describe, expect, it } from 'vitest';
import type { StepContext } from '../../src/engine/step.js';
import type { CommandResult, Executor, RunOptions } from '../../src/integrations/exec/executor.js';
import type { Net } from '../../src/integrations/net/net.js';
import { listFds } from '../../src/steps/fds.js';

/** Answers every command after `delayMs`, counting how many ran. */
class CountingExecutor implements Executor {
  readonly kind = 'local' as const;
  readonly host = 'test';
  readonly ran: string[][] = [];
  constructor(private readonly delayMs = 20) {}
  async run(argv: readonly string[], _opts?: RunOptions): Promise<CommandResult> {
    this.ran.push([...argv]);
    await new Promise((r) => setTimeout(r, this.delayMs));
    const n = this.ran.length;
    return { argv, exitCode: 0, signal: null, stdout: `0 /dev/null\n1 socket:[${n}]\n`, stderr: '', truncated: false, durationMs: this.delayMs };
  }
  async close(): Promise<void> {}
}

function ctx(exec: Executor): StepContext<unknown> {
  return { input: {}, exec, net: {} as Net, signal: new AbortController().signal, commandTimeoutMs: 1000, now: Date.now };
}

describe('listFds', () => {
  it('runs one find for the listings asked for while one is in flight on the same executor', async () => {
    const exec = new CountingExecutor();
    const c = ctx(exec);
    const [a, b, d] = await Promise.all([listFds(c, 42), listFds(c, 42), listFds(ctx(exec), 42)]);
    expect(exec.ran).toHaveLength(1);
    expect(exec.ran[0]?.[1]).toBe('/proc/42/fd');
    expect(b).toBe(a);
    expect(d).toBe(a);
  });

  it('lists again once the listing has finished (the next sample), and per PID and executor', async () => {
    const exec = new CountingExecutor();
    const first = await listFds(ctx(exec), 42);
    const second = await listFds(ctx(exec), 42);
    expect(exec.ran).toHaveLength(2);
    expect(second).not.toBe(first);
    const other = new CountingExecutor();
    await Promise.all([listFds(ctx(exec), 42), listFds(ctx(exec), 43), listFds(ctx(other), 42)]);
    expect(exec.ran).toHaveLength(4);
    expect(other.ran).toHaveLength(1);
  });

  it('shares a failure with the callers that waited on it, and the next call tries again', async () => {
    let calls = 0;
    const exec: Executor = {
      kind: 'local',
      host: 'test',
      async run(argv) {
        calls++;
        await new Promise((r) => setTimeout(r, 10));
        return calls === 1
          ? { argv, exitCode: 1, signal: null, stdout: '', stderr: 'find: /proc/42/fd: Permission denied\n', truncated: false, durationMs: 10 }
          : { argv, exitCode: 0, signal: null, stdout: '0 /dev/null\n', stderr: '', truncated: false, durationMs: 10 };
      },
      async close() {},
    };
    const both = await Promise.allSettled([listFds(ctx(exec), 42), listFds(ctx(exec), 42)]);
    expect(both.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(String((both[0] as PromiseRejectedResult).reason)).toMatch(/cannot list \/proc\/42\/fd: find: \/proc\/42\/fd: Permission denied/);
    expect(calls).toBe(1);
    await expect(listFds(ctx(exec), 42)).resolves.toBe('0 /dev/null\n');
    expect(calls).toBe(2);
  });
});
