import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { parseSs, summarizeSs } from '../../../src/steps/parse/ss.js';
import {
  parseLimits,
  nofileLimit,
  parseFdListing,
  parseFileNr,
  parseSnmpTables,
  parseTailSections,
  parsePsLine,
  parseListenerPids,
} from '../../../src/steps/parse/proc.js';
import { parsePrometheusText } from '../../../src/steps/parse/prometheus.js';
import { poolFromPrometheus, poolFromExpvar, poolFromLogLine, poolFromPgStatActivity } from '../../../src/steps/parse/pool.js';
import { scanLogLines, latencyTrend, redactSecrets } from '../../../src/steps/parse/logs.js';
import { fixture } from './fixtures.js';

/** Every text parser, fed the same input. */
const textParsers: [string, (t: string) => unknown][] = [
  ['parseSs', (t) => summarizeSs(parseSs(t), 2133, new Set([1, 2]))],
  ['parseSs implied state', (t) => parseSs(t, 'CLOSE-WAIT')],
  ['parseLimits', parseLimits],
  ['nofileLimit', nofileLimit],
  ['parseFdListing', parseFdListing],
  ['parseFileNr', parseFileNr],
  ['parseSnmpTables', parseSnmpTables],
  ['parseTailSections', parseTailSections],
  ['parsePsLine', parsePsLine],
  ['parseListenerPids', (t) => parseListenerPids(t, 2133)],
  ['parsePrometheusText', (t) => poolFromPrometheus(parsePrometheusText(t).samples, 's')],
  ['poolFromLogLine', (t) => poolFromLogLine(t, 's')],
  ['poolFromPgStatActivity', (t) => poolFromPgStatActivity(t, 100, 's')],
  ['scanLogLines', (t) => latencyTrend(scanLogLines(t.split('\n')).durationsMs)],
  ['redactSecrets', redactSecrets],
];

/** Pieces of real output, so random input is near-valid and reaches deep parser paths. */
const FRAGMENTS = [
  ...fixture('ss-htane-not-accepted.txt').split('\n').slice(0, 5),
  ...fixture('ss-htane-misc.txt').split('\n').slice(0, 8),
  ...fixture('ss-hltnp-forked.txt').split('\n'),
  ...fixture('proc-limits-1024.txt').split('\n').slice(0, 5),
  ...fixture('fd-listing-node-3000.txt').split('\n').slice(0, 30),
  ...fixture('proc-net-snmp.txt').split('\n').slice(0, 6),
  ...fixture('prom-hikaricp-micrometer.txt').split('\n').slice(0, 8),
  ...fixture('tail-n2.txt').split('\n'),
  ...fixture('logs/app.log').split('\n'),
  ...fixture('ps-node.txt').split('\n'),
  '==> ', ' <==', '{', '}', '"', '\\', 'users:((', 'pid=', 'ino:', 'uid:', '[', ']', '%', ':', '*', 'dbstats {', '|', '\r', '\t', '\x00',
];

const binary = fc.string({ unit: 'binary', maxLength: 2000 });
const grapheme = fc.string({ unit: 'grapheme', maxLength: 500 });
const mutated = fc
  .array(fc.oneof(fc.constantFrom(...FRAGMENTS), fc.string({ maxLength: 20 }), fc.constantFrom('\n', ' ', '  ')), { maxLength: 60 })
  .map((parts) => parts.join(''));
const anyText = fc.oneof(binary, grapheme, mutated);

describe('property: parsers never throw on arbitrary text', () => {
  for (const [name, f] of textParsers) {
    it(name, () => {
      fc.assert(
        fc.property(anyText, (t) => {
          f(t);
        }),
        { numRuns: 300 },
      );
    });
  }

  it('poolFromExpvar on arbitrary JSON-ish values', () => {
    fc.assert(
      fc.property(fc.anything({ maxDepth: 6 }), (v) => {
        poolFromExpvar(v, 's');
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (v) => {
        poolFromExpvar(v, 's');
      }),
      { numRuns: 500 },
    );
  });

  it('poolFromPrometheus on arbitrary sample arrays', () => {
    const sample = fc.record({
      name: fc.constantFrom('go_sql_in_use_connections', 'go_sql_max_open_connections', 'hikaricp_connections_active', 'pg_pool_max', 'x'),
      labels: fc.dictionary(fc.constantFrom('db_name', 'pool', 'job'), fc.string({ maxLength: 5 })),
      value: fc.double(),
    });
    fc.assert(
      fc.property(fc.array(sample, { maxLength: 30 }), (xs) => {
        const p = poolFromPrometheus(xs, 's');
        if (p) expect(['go_sql', 'hikaricp', 'node-postgres']).toContain(p.format);
      }),
    );
  });

  it('latencyTrend on arbitrary numbers', () => {
    fc.assert(
      fc.property(fc.array(fc.double(), { maxLength: 200 }), (xs) => {
        const t = latencyTrend(xs);
        expect(t.samples).toBeLessThanOrEqual(xs.length);
        if (t.samples < 6) expect(t.trend).toBe('unknown');
      }),
    );
  });

  it('redactSecrets is idempotent and keeps lines without secrets', () => {
    fc.assert(
      fc.property(anyText, (t) => {
        const once = redactSecrets(t);
        expect(redactSecrets(once)).toBe(once);
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z ]{0,50}$/), (t) => {
        expect(redactSecrets(t)).toBe(t);
      }),
    );
  });
});

describe('property: bounded time on large and adversarial input', () => {
  const rnd = (n: number, seed: number) => {
    let x = seed;
    let s = '';
    for (let i = 0; i < n; i++) {
      x = (x * 1103515245 + 12345) & 0x7fffffff;
      s += String.fromCharCode(x % 5 === 0 ? 10 : x % 256);
    }
    return s;
  };
  const inputs: [string, string][] = [
    ['2 MB random bytes', rnd(2_000_000, 42)],
    ['one 1 MB line', 'a'.repeat(1_000_000)],
    ['1 MB of spaces', ' '.repeat(1_000_000)],
    ['many tail-header lookalikes', '==> x\n'.repeat(100_000) + '==> '.repeat(50_000)],
    ['unterminated label values', 'm{a="'.repeat(100_000)],
    ['nested braces after dbstats', 'dbstats ' + '{'.repeat(200_000)],
    ['key-like prefixes', 'password'.repeat(50_000) + ' ' + 'x_'.repeat(100_000) + 'token'],
    ['pool-ish words', 'connection '.repeat(50_000) + 'pool'.repeat(50_000)],
    ['digits', '1 '.repeat(500_000)],
    ['url-ish', 'postgres://'.repeat(30_000) + 'a:'.repeat(100_000)],
    ['many short lines', 'x\n'.repeat(600_000)],
  ];
  for (const [label, input] of inputs) {
    it(label, () => {
      for (const [name, f] of textParsers) {
        const t0 = performance.now();
        f(input);
        const ms = performance.now() - t0;
        expect(ms, `${name} on ${label}`).toBeLessThan(3000);
      }
      const t0 = performance.now();
      poolFromExpvar(JSON.parse(JSON.stringify({ a: Array.from({ length: 50_000 }, (_, i) => ({ i })) })), 's');
      expect(performance.now() - t0).toBeLessThan(1000);
    }, 60_000);
  }
});
