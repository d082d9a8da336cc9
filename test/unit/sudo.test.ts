import { describe, expect, it } from 'vitest';
import type { CommandResult, Executor, RunOptions } from '../../src/integrations/exec/executor.js';
import { needsPrivilege, SudoExecutor } from '../../src/integrations/exec/sudo.js';
import { fdListingArgv } from '../../src/steps/fds.js';

/** Records what it was asked to run and answers with a canned result. */
class RecordingExecutor implements Executor {
  readonly kind = 'ssh' as const;
  readonly host = 'lab-1';
  seen: string[][] = [];
  constructor(private readonly answer: Partial<CommandResult> = {}) {}
  async run(argv: readonly string[], _opts?: RunOptions): Promise<CommandResult> {
    this.seen.push([...argv]);
    return { argv, exitCode: 0, signal: null, stdout: '', stderr: '', truncated: false, durationMs: 1, ...this.answer };
  }
  async close(): Promise<void> {}
}

describe('needsPrivilege', () => {
  it('is true for what reads another user\'s process', () => {
    expect(needsPrivilege(fdListingArgv(42))).toBe(true);
    expect(needsPrivilege(['stat', '-c', '%s', '/proc/42/fd'])).toBe(true);
    expect(needsPrivilege(['tail', '-n', '+1', '--', '/proc/42/limits', '/proc/sys/fs/file-nr'])).toBe(true);
    expect(needsPrivilege(['ss', '-Hltnp', 'sport', '=', ':2133'])).toBe(true);
    expect(needsPrivilege(['ss', '-Htanpe', 'sport', '=', ':2133'])).toBe(true);
    expect(needsPrivilege(['pmap', '-x', '42'])).toBe(true);
  });

  it('is false for what any user may read', () => {
    expect(needsPrivilege(['ss', '-Htane', 'sport', '=', ':2133'])).toBe(false);
    expect(needsPrivilege(['tail', '-n', '+1', '--', '/proc/net/netstat', '/proc/net/snmp'])).toBe(false);
    expect(needsPrivilege(['ps', '-o', 'pid=,user=,etimes=,args=', '-p', '42'])).toBe(false);
    expect(needsPrivilege(['tail', '-n', '200', '--', '/var/log/app/access.log'])).toBe(false);
    expect(needsPrivilege(['date', '+%s'])).toBe(false);
  });
});

describe('SudoExecutor', () => {
  it('prefixes sudo -n only where needed and reports the argv the step asked for', async () => {
    const inner = new RecordingExecutor();
    const exec = new SudoExecutor(inner);
    const res = await exec.run(['pmap', '-x', '42']);
    await exec.run(['date', '+%s']);
    expect(inner.seen).toEqual([['sudo', '-n', 'pmap', '-x', '42'], ['date', '+%s']]);
    expect(res.argv).toEqual(['pmap', '-x', '42']);
  });

  it('turns a refusal into stderr that says which rule is missing', async () => {
    const exec = new SudoExecutor(new RecordingExecutor({ exitCode: 1, stderr: 'sudo: a password is required\n' }));
    const res = await exec.run(['pmap', '-x', '42']);
    expect(res.exitCode).toBe(1);
    expect(res.stderr).toMatch(/^sudo -n refused `pmap -x 42 \.\.\.` on lab-1: add the rule from SECURITY\.md/);
  });
});
