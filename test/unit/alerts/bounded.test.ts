// Webhook payloads from an attacker or a broken pipeline: huge, deep or binary. Each parser must
// answer (alerts or a one-line reason) in bounded time and never throw.
import { describe, expect, it } from 'vitest';
import { parseAlertmanager } from '../../../src/integrations/alerts/alertmanager.js';
import { LIMITS } from '../../../src/integrations/alerts/common.js';
import { parseGeneric, type GenericMapping } from '../../../src/integrations/alerts/generic.js';
import { parseGrafana } from '../../../src/integrations/alerts/grafana.js';
import type { ParseResult } from '../../../src/integrations/alerts/types.js';
import { clone, loadFixture } from './helpers.js';

const BUDGET_MS = 2000;
const MAPPING: GenericMapping = { alerts: 'alerts', fingerprint: 'fingerprint', status: 'status', startsAt: 'startsAt', labels: 'labels', annotations: 'annotations' };

const parsers: [string, (body: unknown) => ParseResult, () => Record<string, unknown>][] = [
  ['alertmanager', parseAlertmanager, () => loadFixture('alertmanager-v4.json')],
  ['grafana', parseGrafana, () => loadFixture('grafana-webhook.json')],
  ['generic', (b) => parseGeneric(b, MAPPING), () => loadFixture('alertmanager-v4.json')],
];

function nested(depth: number): unknown {
  let v: unknown = 'x';
  for (let i = 0; i < depth; i++) v = { labels: v, alerts: [v] };
  return v;
}

/** Random bytes as a JS string, as a JSON body of binary garbage decodes. */
function garbage(n: number, seed: number): string {
  let x = seed;
  let s = '';
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    s += String.fromCharCode(x % 0xd800);
  }
  return s;
}

function manyAlerts(base: Record<string, unknown>, n: number, labels: number): Record<string, unknown> {
  const p = clone(base);
  const first = (p.alerts as Record<string, unknown>[])[0]!;
  p.alerts = Array.from({ length: n }, (_, i) => ({
    ...first,
    fingerprint: `f${i}`,
    labels: Object.fromEntries(Array.from({ length: labels }, (_, j) => [`l${j}`, `v${i}-${j}`])),
  }));
  return p;
}

const inputs: [string, (base: Record<string, unknown>) => unknown][] = [
  [`${LIMITS.alerts * 20} alerts`, (b) => manyAlerts(b, LIMITS.alerts * 20, 8)],
  [`${LIMITS.alerts} alerts of ${LIMITS.labels * 4} labels`, (b) => manyAlerts(b, LIMITS.alerts, LIMITS.labels * 4)],
  ['a 4 MB label value', (b) => {
    const p = clone(b);
    (p.alerts as { labels: Record<string, string> }[])[0]!.labels.instance = 'h'.repeat(4 << 20);
    return p;
  }],
  ['a 4 MB label name', (b) => {
    const p = clone(b);
    (p.alerts as { labels: Record<string, string> }[])[0]!.labels['n'.repeat(4 << 20)] = 'x';
    return p;
  }],
  ['10,000 levels of nesting in place of the alerts', (b) => ({ ...clone(b), alerts: nested(10_000) })],
  ['10,000 levels of nesting in the labels', (b) => {
    const p = clone(b);
    (p.alerts as Record<string, unknown>[])[0]!.labels = nested(10_000);
    return p;
  }],
  ['1 MB of binary garbage as every string', (b) => {
    const g = garbage(1 << 20, 7);
    const p = clone(b);
    for (const a of p.alerts as Record<string, unknown>[]) for (const k of Object.keys(a)) a[k] = g;
    return p;
  }],
  ['a 1 MB array of numbers as the alerts', (b) => ({ ...clone(b), alerts: Array.from({ length: 1 << 18 }, (_, i) => i) })],
];

describe('webhook parsers: bounded time on huge, deep and binary payloads', () => {
  for (const [source, parse, base] of parsers) {
    for (const [label, make] of inputs) {
      it(`${source}: ${label}`, () => {
        const body = make(base());
        const t0 = performance.now();
        const r = parse(body);
        const ms = performance.now() - t0;
        expect(ms).toBeLessThan(BUDGET_MS);
        if (r.ok) expect(r.alerts.length).toBeLessThanOrEqual(LIMITS.alerts);
        else {
          expect(r.reason).not.toContain('\n');
          expect(r.reason.length).toBeLessThanOrEqual(500);
        }
      });
    }
  }
});
