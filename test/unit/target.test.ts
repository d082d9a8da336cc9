import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { InputError } from '../../src/core/errors.js';
import { formatTarget, parseTarget, printable } from '../../src/core/target.js';

function rejection(text: string): InputError {
  try {
    parseTarget(text);
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    return err as InputError;
  }
  throw new Error(`parseTarget accepted ${JSON.stringify(text)}`);
}

describe('parseTarget: accepted targets', () => {
  it.each([
    ['host-35:2133', { host: 'host-35', port: 2133 }],
    ['10.0.0.1:80', { host: '10.0.0.1', port: 80 }],
    ['[::1]:2133', { host: '::1', port: 2133 }],
    ['localhost:1', { host: 'localhost', port: 1 }],
    ['db_1.example.net:65535', { host: 'db_1.example.net', port: 65535 }],
    ['  host-35:2133\t', { host: 'host-35', port: 2133 }],
  ])('%s', (text, expected) => {
    expect(parseTarget(text)).toEqual(expected);
  });

  it('formatTarget brackets IPv6 and round-trips', () => {
    for (const t of ['host-35:2133', '10.0.0.1:80', '[::1]:2133', '[fe80::1]:22']) {
      expect(formatTarget(parseTarget(t))).toBe(t);
    }
  });
});

describe('parseTarget: refused targets, each with a reason', () => {
  const cases: [string, string, RegExp][] = [
    ['port too big', 'host-35:99999', /port 99999 is out of range: expected 1-65535/],
    ['port zero', 'host-35:0', /port 0 is out of range/],
    ['shell separator in host', 'host-35;reboot:2133', /"host-35;reboot" is not a host name/],
    ['command substitution', '$(id):2133', /"\$\(id\)" is not a host name/],
    ['backticks', '`id`:1', /"`id`" is not a host name/],
    ['no port after colon', 'host:', /"" is not a port: expected 1-65535/],
    ['no host', ':2133', /"" is not a host name/],
    ['no port at all', 'host', /"host" has no port: expected HOST:PORT/],
    ['space in host', 'a b:1', /"a b" is not a host name/],
    ['ssh option as host', '-oProxyCommand=x:22', /"-oProxyCommand=x" is not a host name/],
    ['overlong', `${'a'.repeat(300)}:22`, /target is too long/],
    ['newline inside', 'host-35\nreboot:2133', /not a host name/],
    ['Cyrillic look-alike', '\u04bbost:1', /is not a host name/],
    ['empty', '', /target is empty/],
    ['only blanks', '   ', /target is empty/],
    ['port with sign', 'host:+22', /"\+22" is not a port/],
    ['port with letters', 'host:22a', /"22a" is not a port/],
    ['bracketed non-IPv6', '[host-35]:22', /"host-35" is not an IPv6 address/],
    ['trailing dot-dash', 'host-:22', /"host-" is not a host name/],
  ];
  it.each(cases)('%s: %j', (_why, text, message) => {
    const err = rejection(text);
    expect(err.code).toBe('input_invalid');
    expect(err.message).toMatch(message);
    // one line, nothing a terminal would interpret
    expect(err.message).not.toMatch(/[\x00-\x1f\x7f]/);
  });

  it('shows the look-alike character escaped, not raw', () => {
    expect(rejection('\u04bbost:1').message).toContain('\\u{4bb}ost');
  });

  it('shows a newline escaped', () => {
    expect(rejection('a\nb:1').message).toContain('a\\u{a}b');
  });
});

describe('printable', () => {
  it('escapes control characters, DEL and non-ASCII, keeps printable ASCII', () => {
    expect(printable('abc-1.2_x')).toBe('abc-1.2_x');
    expect(printable('\x1b[31mred')).toBe('\\u{1b}[31mred');
    expect(printable('a\x7fb')).toBe('a\\u{7f}b');
    expect(printable('tab\there')).toBe('tab\\u{9}here');
  });

  it('cuts at max characters', () => {
    const p = printable('x'.repeat(100), 10);
    expect(p.startsWith('x'.repeat(10))).toBe(true);
    expect(p).not.toContain('x'.repeat(11));
    expect(p.length).toBeLessThan(20);
  });

  it('bounds what it prints, escapes included, and never cuts an escape', () => {
    expect(printable('\x00'.repeat(100), 22)).toBe('\\u{0}'.repeat(4) + '…');
    expect(printable('ab\x1b', 5)).toBe('ab…');
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), fc.integer({ min: 1, max: 120 }), (s, max) => {
        const out = printable(s, max);
        expect(out.length).toBeLessThanOrEqual(max + 1);
        expect(out.replace(/…$/, '')).not.toMatch(/\\u\{[0-9a-f]*$/);
      }),
      { numRuns: 500 },
    );
  });

  it('never returns control characters, for any string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), fc.integer({ min: 1, max: 120 }), (s, max) => {
        const out = printable(s, max);
        expect(out).not.toMatch(/[\x00-\x1f\x7f-\x9f\u2028\u2029]/);
      }),
      { numRuns: 500 },
    );
  });
});
