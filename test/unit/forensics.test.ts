import { describe, expect, it } from 'vitest';
import { TriageError } from '../../src/core/errors.js';
import type { Sample, StepContext } from '../../src/engine/step.js';
import type { CommandResult, Executor, RunOptions } from '../../src/integrations/exec/executor.js';
import { forensicsStep, renderSnapshot, SECTION_MAX_LINES, type ForensicsFacts } from '../../src/steps/forensics.js';

const T0 = Date.parse('2026-11-25T05:00:00.123Z');
type Raw = Parameters<typeof forensicsStep.analyze>[0][number]['raw'];
type RawSection = Raw['sections'][number];

const sec = (name: string, command: string, stdout: string, extra: Partial<RawSection> = {}): RawSection => ({
  name,
  command,
  exitCode: 0,
  stdout,
  stderr: '',
  truncated: false,
  ...extra,
});
const one = (raw: Raw): Sample<Raw>[] => [{ raw, at: T0 + 500 }];
const input = { pid: 4242, port: 2133 };

function analyze(sections: RawSection[]): ForensicsFacts {
  const { facts } = forensicsStep.analyze(one({ takenAt: T0, host: 'lab-1', sections }), input);
  const f = (facts as { forensics?: ForensicsFacts }).forensics;
  expect(f).toBeDefined();
  return f as ForensicsFacts;
}

const THREADS_TAIL = [
  '==> /proc/4242/task/4242/comm <==',
  'node',
  '',
  '==> /proc/4242/task/4242/stat <==',
  '4242 (node) S 1 4242 4242 0 -1 4194560 1234',
  '',
  '==> /proc/4242/task/4242/wchan <==',
  'do_epoll_wait',
  '==> /proc/4242/task/4250/comm <==',
  'libuv-worker',
  '',
  '==> /proc/4242/task/4250/stat <==',
  '4250 (libuv-worker) R 1 4242 4242 0 -1 4194624 55',
  '',
  '==> /proc/4242/task/4250/wchan <==',
  '0',
].join('\n');

describe('forensics analyze', () => {
  it('keeps every section, records a failed one and redacts secrets line by line', () => {
    const f = analyze([
      { ...sec('fds', "find /proc/4242/fd -mindepth 1 -maxdepth 1 -printf '%f %l\\0'", '0 /dev/null\x001 pipe:[1]\x003 socket:[77]\x004 /tmp/a\nb\x00'), format: 'nul-entries' as const },
      sec('status', 'cat -- /proc/4242/status', 'Name:\tnode\nVmRSS:\t  51200 kB\n'),
      sec('memory map', 'pmap -x 4242', '', { exitCode: null, failure: 'pmap: not installed (not found in PATH)' }),
      sec('limits', 'cat -- /proc/4242/limits', '', { exitCode: 1, stderr: 'cat: /proc/4242/limits: Permission denied\n' }),
      sec('log /var/log/app.log', 'tail -n 200 -- /var/log/app.log', 'GET / 200 12ms\nconnecting to postgres://app:hunter2@db:5432/shop password=s3cret\n'),
    ]);
    expect(f.pid).toBe(4242);
    expect(f.takenAt).toBe('2026-11-25T05:00:00.123Z');
    expect(f.host).toBe('lab-1');
    expect(f.sections.map((s) => [s.name, s.ok, s.lines])).toEqual([
      ['fds', true, 4],
      ['status', true, 2],
      ['memory map', false, 0],
      ['limits', false, 0],
      ['log /var/log/app.log', true, 2],
    ]);
    expect(f.sections[0]?.content).toBe('0 /dev/null\n1 pipe:[1]\n3 socket:[77]\n4 /tmp/a\\nb');
    expect(f.sections[2]?.error).toBe('pmap: not installed (not found in PATH)');
    expect(f.sections[3]?.error).toBe('cat: /proc/4242/limits: Permission denied');
    const log = f.sections[4]?.content ?? '';
    expect(log).not.toContain('hunter2');
    expect(log).not.toContain('s3cret');
    expect(log).toContain('postgres://app:[REDACTED]@db:5432/shop');
    expect(log).toContain('password=[REDACTED]');
    expect(f.sections.every((s) => !s.truncated)).toBe(true);
  });

  it('says in one info finding which sections failed', () => {
    const { findings } = forensicsStep.analyze(
      one({ takenAt: T0, host: 'h', sections: [sec('fds', 'find', '0 /dev/null\n'), sec('memory map', 'pmap -x 1', '', { exitCode: 1, stderr: 'boom\n' })] }),
      input,
    );
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatchObject({ id: 'forensics-snapshot', step: 'forensics', severity: 'info' });
    expect(findings[0]?.title).toContain('1/2 sections');
    expect(findings[0]?.title).toContain('forensics-4242-20261125T050000Z.txt');
    expect(findings[0]?.evidence).toEqual(['memory map: boom']);
  });

  it('caps a section at the line limit and marks it truncated', () => {
    const big = Array.from({ length: SECTION_MAX_LINES + 5 }, (_, i) => `${i} socket:[${i}]`).join('\n') + '\n';
    const f = analyze([sec('fds', 'find', big), sec('status', 'cat', 'x\n', { truncated: true })]);
    expect(f.sections[0]?.truncated).toBe(true);
    expect(f.sections[0]?.lines).toBe(SECTION_MAX_LINES);
    expect(f.sections[0]?.content.split('\n')).toHaveLength(SECTION_MAX_LINES);
    expect(f.sections[0]?.content.endsWith(`${SECTION_MAX_LINES - 1} socket:[${SECTION_MAX_LINES - 1}]`)).toBe(true);
    // Cut by the executor's output cap.
    expect(f.sections[1]?.truncated).toBe(true);
  });

  it('caps a section at 4 MiB', () => {
    const line = 'x'.repeat(1023);
    const big = Array.from({ length: 5000 }, () => line).join('\n');
    const f = analyze([sec('log /a.log', 'tail', big)]);
    expect(f.sections[0]?.truncated).toBe(true);
    expect(f.sections[0]?.lines).toBe(4096);
  });

  it('turns the threads tail into a table of tid, state, name and wait channel', () => {
    const f = analyze([sec('threads', 'find …; tail …', THREADS_TAIL, { format: 'threads', omitted: 3 })]);
    const t = f.sections[0];
    expect(t?.ok).toBe(true);
    expect(t?.truncated).toBe(true);
    const rows = (t?.content ?? '').split('\n');
    expect(rows[0]).toMatch(/^TID\s+S\s+COMM\s+WCHAN$/);
    expect(rows[1]).toMatch(/^4242\s+S node\s+do_epoll_wait$/);
    expect(rows[2]).toMatch(/^4250\s+R libuv-worker -$/);
    expect(rows[3]).toBe('(3 more threads not read)');
  });
});

describe('renderSnapshot', () => {
  const facts: ForensicsFacts = {
    pid: 77,
    takenAt: '2026-11-25T05:00:00.123Z',
    host: 'db-1',
    sections: [
      { name: 'status', command: 'cat -- /proc/77/status', ok: true, truncated: false, lines: 1, content: 'VmRSS:\t1 kB' },
      { name: 'memory map', command: 'pmap -x 77', ok: false, truncated: false, lines: 0, content: '', error: 'pmap: not installed' },
      { name: 'fds', command: 'find', ok: true, truncated: true, lines: 2, content: '0 a\n1 b' },
    ],
  };

  it('names the file after the pid and the compact time', () => {
    expect(renderSnapshot(facts).filename).toBe('forensics-77-20261125T050000Z.txt');
  });

  it('has a header and one delimited block per section', () => {
    const { content } = renderSnapshot(facts);
    const lines = content.split('\n');
    expect(lines).toContain('pid:      77');
    expect(lines).toContain('host:     db-1');
    expect(lines).toContain('taken at: 2026-11-25T05:00:00.123Z');
    expect(lines).toContain('sections: 3 (2 ok, 1 failed)');
    expect(lines).toContain('===== status: cat -- /proc/77/status =====');
    expect(content).toContain('===== memory map: pmap -x 77 =====\n(failed: pmap: not installed)\n');
    expect(content).toContain('===== fds: find =====\n0 a\n1 b\n(truncated: 2 lines kept)\n');
    expect(content.endsWith('\n')).toBe(true);
  });

  it('leaves the host out when unknown', () => {
    const { host: _host, ...rest } = facts;
    expect(renderSnapshot(rest).content).not.toContain('host:');
  });
});

/** A fake host: answers by the argv's first words. */
class FakeExecutor implements Executor {
  readonly kind = 'local' as const;
  readonly host = 'fake';
  readonly calls: string[][] = [];
  constructor(private readonly answer: (argv: readonly string[]) => Partial<CommandResult> | Error) {}
  async run(argv: readonly string[], _opts?: RunOptions): Promise<CommandResult> {
    this.calls.push([...argv]);
    const a = this.answer(argv);
    if (a instanceof Error) throw a;
    return { argv, exitCode: 0, signal: null, stdout: '', stderr: '', truncated: false, durationMs: 1, ...a };
  }
  async close(): Promise<void> {}
}

const ctxFor = (exec: Executor, extra: Partial<typeof input & { logPaths: string[] }> = {}): StepContext<typeof input & { logPaths?: string[] }> => ({
  input: { ...input, ...extra },
  exec,
  net: {} as never,
  signal: new AbortController().signal,
  commandTimeoutMs: 1000,
  now: () => T0,
});

describe('forensics collect', () => {
  it('runs argv only, discovers logs among the descriptors and reads up to the threads', async () => {
    const exec = new FakeExecutor((argv) => {
      const cmd = argv.join(' ');
      if (cmd.startsWith('find /proc/4242/fd')) return { stdout: '0 /dev/null\x005 /var/log/svc/access.log\x006 socket:[9]\x00' };
      if (cmd.startsWith('find /proc/4242/task')) return { stdout: '4242\n4250\n' };
      if (argv[0] === 'tail' && argv[2] === '+1') return { stdout: THREADS_TAIL };
      if (argv[0] === 'pmap') return new TriageError('command_failed', 'pmap: not installed (not found in PATH)');
      return { stdout: `${cmd}\n` };
    });
    const raw = await forensicsStep.collect(ctxFor(exec));
    expect(exec.calls).toContainEqual(['ss', '-Htanpe', 'sport', '=', ':2133']);
    expect(exec.calls).toContainEqual(['cat', '--', '/proc/4242/limits']);
    expect(exec.calls).toContainEqual(['tail', '-n', '200', '--', '/var/log/svc/access.log']);
    expect(exec.calls).toContainEqual(['tail', '-n', '+1', '--', ...['4242', '4250'].flatMap((t) => ['comm', 'stat', 'wchan'].map((f) => `/proc/4242/task/${t}/${f}`))]);
    // Not a JVM: no which/jcmd.
    expect(exec.calls.some((c) => c[0] === 'which')).toBe(false);
    const f = (forensicsStep.analyze([{ raw, at: T0 }], input).facts as { forensics: ForensicsFacts }).forensics;
    expect(f.sections.map((s) => s.name)).toEqual(['fds', 'sockets', 'status', 'limits', 'memory map', 'threads', 'log /var/log/svc/access.log']);
    expect(f.sections.find((s) => s.name === 'memory map')).toMatchObject({ ok: false, error: 'pmap: not installed (not found in PATH)' });
    expect(f.host).toBe('fake');
  });

  it('uses the given log paths and dumps JVM threads with jcmd when it is there', async () => {
    const exec = new FakeExecutor((argv) => {
      if (argv[0] === 'find' && argv[1] === '/proc/4242/task') return { stdout: '4242\n' };
      if (argv[0] === 'tail' && argv[2] === '+1') return { stdout: '==> /proc/4242/task/4242/comm <==\njava\n' };
      if (argv[0] === 'which') return { exitCode: 1, stdout: '/usr/bin/jcmd\n' };
      return { stdout: 'x\n' };
    });
    await forensicsStep.collect(ctxFor(exec, { logPaths: ['/srv/app.log'] }));
    expect(exec.calls).toContainEqual(['tail', '-n', '200', '--', '/srv/app.log']);
    expect(exec.calls).toContainEqual(['/usr/bin/jcmd', '4242', 'Thread.print']);
  });

  it('fails when no section got anything', async () => {
    const exec = new FakeExecutor(() => ({ exitCode: 1, stderr: 'Permission denied\n' }));
    await expect(forensicsStep.collect(ctxFor(exec))).rejects.toThrow(/no section produced any output/);
  });
});
