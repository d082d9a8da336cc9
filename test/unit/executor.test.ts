import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { TriageError } from '../../src/core/errors.js';
import { CappedBuffer, commandFailed, shellJoin, shellQuote } from '../../src/integrations/exec/executor.js';

const viaShell = (script: string): string => execFileSync('sh', ['-c', script], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' } });

describe('shellQuote / shellJoin', () => {
  it('leaves plain words alone and quotes everything else', () => {
    expect(shellQuote('ss')).toBe('ss');
    expect(shellQuote('/proc/12/fd')).toBe('/proc/12/fd');
    expect(shellQuote('sport=:2133')).toBe('sport=:2133');
    expect(shellQuote('')).toBe("''");
    expect(shellQuote('a b')).toBe("'a b'");
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
    expect(shellQuote('$(id)')).toBe("'$(id)'");
    expect(shellJoin(['printf', '%s', 'a;b', '*'])).toBe("printf %s 'a;b' '*'");
  });

  it('rejects a NUL byte', () => {
    expect(() => shellQuote('a\0b')).toThrow(TriageError);
    try {
      shellJoin(['ok', 'x\0']);
    } catch (err) {
      expect((err as TriageError).code).toBe('input_invalid');
      return;
    }
    throw new Error('shellJoin accepted a NUL byte');
  });

  it('hostile arguments reach the program literally', () => {
    const hostile = ['$(id)', '`id`', "a'b", 'a"b', '; ls', '| cat', '\\n', '*', '~', '$HOME', '-n', '--', '\n', '!x', '{a,b}', '#c'];
    for (const h of hostile) expect(viaShell(`printf %s ${shellQuote(h)}`)).toBe(h);
    expect(viaShell(`printf '%s|' ${shellJoin(hostile)}`)).toBe(hostile.map((h) => `${h}|`).join(''));
  });

  it('round-trips any string without NUL through sh -c printf %s', () => {
    // Valid Unicode only: a lone surrogate has no UTF-8 form to cross the pipe as.
    const special = fc.constantFrom("'", '"', '\\', '$', '`', ' ', '\n', '\t', '\r', '*', '?', ';', '&', '|', '(', ')', '<', '>', '~', '#', '!', '%', '-', '{', '}', '[', ']', '=', '\x1b', '\x7f');
    const codePoint = fc
      .integer({ min: 1, max: 0x10ffff })
      .filter((c) => c < 0xd800 || c > 0xdfff)
      .map((c) => String.fromCodePoint(c));
    const ascii = fc.integer({ min: 1, max: 0x7f }).map((c) => String.fromCharCode(c));
    const arb = fc.string({ unit: fc.oneof(special, ascii, codePoint), maxLength: 40 });
    fc.assert(
      fc.property(arb, (s) => {
        const out = execFileSync('sh', ['-c', `printf %s ${shellQuote(s)}`]);
        expect(out.equals(Buffer.from(s, 'utf8'))).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});

describe('CappedBuffer', () => {
  it('keeps everything below the cap', () => {
    const b = new CappedBuffer(10);
    b.push(Buffer.from('abc'));
    b.push(Buffer.from('def'));
    expect(b.text()).toBe('abcdef');
    expect(b.truncated).toBe(false);
    expect(b.full).toBe(false);
  });

  it('exactly at the cap is full but not truncated', () => {
    const b = new CappedBuffer(6);
    b.push(Buffer.from('abc'));
    b.push(Buffer.from('def'));
    expect(b.text()).toBe('abcdef');
    expect(b.full).toBe(true);
    expect(b.truncated).toBe(false);
  });

  it('is truncated once the reader stops reading at the cap', () => {
    const b = new CappedBuffer(6);
    b.push(Buffer.from('abcdef'));
    b.cut();
    expect(b.text()).toBe('abcdef');
    expect(b.truncated).toBe(true);
  });

  it('cuts a chunk that crosses the cap and drops later ones, marking truncated', () => {
    const b = new CappedBuffer(5);
    b.push(Buffer.from('abc'));
    b.push(Buffer.from('defgh'));
    expect(b.text()).toBe('abcde');
    expect(b.truncated).toBe(true);
    b.push(Buffer.from('zzz'));
    expect(b.text()).toBe('abcde');
  });

  it('a push after exactly filling marks truncated', () => {
    const b = new CappedBuffer(3);
    b.push(Buffer.from('abc'));
    expect(b.truncated).toBe(false);
    b.push(Buffer.from('d'));
    expect(b.truncated).toBe(true);
    expect(b.text()).toBe('abc');
  });
});

describe('commandFailed', () => {
  it('names the command, the exit code and the last stderr line', () => {
    const e = commandFailed({ argv: ['ss', '-H'], exitCode: 1, signal: null, stdout: '', stderr: 'first\nCannot open netlink socket\n', truncated: false, durationMs: 1 });
    expect(e.code).toBe('command_failed');
    expect(e.message).toBe('ss failed (exit 1): Cannot open netlink socket');
    const k = commandFailed({ argv: ['sleep'], exitCode: null, signal: 'SIGKILL', stdout: '', stderr: '', truncated: false, durationMs: 1 });
    expect(k.message).toBe('sleep failed (signal SIGKILL)');
  });
});
