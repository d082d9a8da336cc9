import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import { TriageError } from '../../src/core/errors.js';
import { LocalExecutor } from '../../src/integrations/exec/local.js';

const exec = new LocalExecutor();

async function failure(p: Promise<unknown>): Promise<TriageError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(TriageError);
    return err as TriageError;
  }
  throw new Error('expected the command to fail');
}

/** PIDs whose full command line is exactly `cmdline` (pgrep exits 1 when there are none). */
function pidsOf(cmdline: string): number[] {
  try {
    return execFileSync('pgrep', ['-fx', cmdline], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

async function gone(cmdline: string, withinMs: number): Promise<boolean> {
  const until = Date.now() + withinMs;
  while (Date.now() < until) {
    if (pidsOf(cmdline).length === 0) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return pidsOf(cmdline).length === 0;
}

describe('LocalExecutor', () => {
  it('passes argv to the program without a shell', async () => {
    const r = await exec.run(['echo', '$(id) ; ls', '`id`', '*']);
    expect(r.stdout).toBe('$(id) ; ls `id` *\n');
    expect(r.exitCode).toBe(0);
    expect(r.signal).toBeNull();
    expect(r.truncated).toBe(false);
    expect(r.argv).toEqual(['echo', '$(id) ; ls', '`id`', '*']);
    expect(r.durationMs).toBeGreaterThan(0);
  });

  it('reports exit codes and stderr as a result, not an error', async () => {
    const r = await exec.run(['sh', '-c', 'echo out; echo err >&2; exit 3']);
    expect(r.exitCode).toBe(3);
    expect(r.stdout).toBe('out\n');
    expect(r.stderr).toBe('err\n');
    expect((await exec.run(['false'])).exitCode).toBe(1);
    expect((await exec.run(['true'])).exitCode).toBe(0);
  });

  it('runs with LC_ALL=C and a fixed PATH, not the caller environment', async () => {
    const r = await exec.run(['env']);
    const env = Object.fromEntries(r.stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    expect(env.LC_ALL).toBe('C');
    expect(env.PATH).toContain('/usr/bin');
    expect(env.HOME).toBeUndefined();
  });

  it('a missing binary fails with command_failed "not installed"', async () => {
    const e = await failure(exec.run(['triage-no-such-binary-xyz', '-v']));
    expect(e.code).toBe('command_failed');
    expect(e.message).toMatch(/triage-no-such-binary-xyz: not installed/);
  });

  it('an empty argv is refused', async () => {
    expect((await failure(exec.run([]))).code).toBe('input_invalid');
  });

  it('a time-out fails with command_timeout and kills the child', async () => {
    const cmd = `sleep 30.${process.pid}1`;
    const t0 = Date.now();
    const e = await failure(exec.run(cmd.split(' '), { timeoutMs: 200 }));
    expect(e.code).toBe('command_timeout');
    expect(e.message).toMatch(/200 ms/);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(await gone(cmd, 2000)).toBe(true);
  });

  it('the default time-out from the constructor applies', async () => {
    const cmd = `sleep 30.${process.pid}2`;
    const e = await failure(new LocalExecutor('localhost', { timeoutMs: 150 }).run(cmd.split(' ')));
    expect(e.code).toBe('command_timeout');
    expect(await gone(cmd, 2000)).toBe(true);
  });

  it('an abort fails with aborted and kills the child', async () => {
    const cmd = `sleep 30.${process.pid}3`;
    const ac = new AbortController();
    const p = exec.run(cmd.split(' '), { signal: ac.signal, timeoutMs: 20_000 });
    setTimeout(() => ac.abort(), 100);
    const e = await failure(p);
    expect(e.code).toBe('aborted');
    expect(await gone(cmd, 2000)).toBe(true);
  });

  it('an already aborted signal runs nothing', async () => {
    const ac = new AbortController();
    ac.abort();
    const e = await failure(exec.run(['sh', '-c', 'exit 0'], { signal: ac.signal }));
    expect(e.code).toBe('aborted');
  });

  it('caps output, marks it truncated and stops an endless writer', async () => {
    const r = await exec.run(['yes'], { maxOutputBytes: 1000, timeoutMs: 5000 });
    expect(r.truncated).toBe(true);
    expect(r.stdout).toHaveLength(1000);
    expect(r.stdout.startsWith('y\ny\n')).toBe(true);
  });

  it('caps stderr too', async () => {
    const r = await exec.run(['sh', '-c', 'head -c 5000 /dev/zero | tr "\\0" e >&2'], { maxOutputBytes: 100 });
    expect(r.stderr).toBe('e'.repeat(100));
    expect(r.truncated).toBe(true);
    expect(r.exitCode).toBe(0);
  });
});
