import { describe, it, expect } from 'vitest';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { parseGrafana } from '../../../src/integrations/alerts/grafana.js';
import { deriveFingerprint } from '../../../src/integrations/alerts/common.js';
import { alertsOf, clone, loadFixture, reasonOf } from './helpers.js';

const FIXTURE = loadFixture('grafana-webhook.json');
type Payload = { alerts: Record<string, unknown>[] } & Record<string, unknown>;
const payload = (): Payload => clone(FIXTURE) as Payload;
const first = (p: Payload): Record<string, unknown> => p.alerts[0] as Record<string, unknown>;

describe('parseGrafana: the fixture', () => {
  it('returns both alerts with source grafana, the given fingerprint, and the group key', () => {
    const r = parseGrafana(FIXTURE);
    if (!r.ok) throw new Error(r.reason);
    expect(r.groupKey).toContain('{alertname="High connection resets", grafana_folder="Services"}');
    expect(r.alerts[0]).toEqual({
      source: 'grafana',
      fingerprint: 'c6eadffa33fcdf37',
      status: 'firing',
      startsAt: '2026-11-25T05:51:03.157076+01:00',
      labels: { alertname: 'High connection resets', grafana_folder: 'Services', host: 'app-1', service: 'api' },
      annotations: { summary: 'Resets on app-1 above 10/s' },
      generatorURL: 'https://grafana.example.net/alerting/grafana/d1f7a9c2/view?orgId=1',
    });
    expect(r.alerts[1]?.status).toBe('resolved');
  });

  it('derives the empty fingerprint: sha256 of the sorted labels, 16 hex characters', () => {
    const [, resolved] = alertsOf(parseGrafana(FIXTURE));
    const labels = { alertname: 'High connection resets', grafana_folder: 'Services', host: 'app-2', service: 'api' };
    const expected = createHash('sha256')
      .update(JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1))))
      .digest('hex')
      .slice(0, 16);
    expect(resolved?.fingerprint).toBe(expected);
    expect(resolved?.fingerprint).toMatch(/^[0-9a-f]{16}$/);
  });

  it('derives the same fingerprint whatever the label order, and a different one for different labels', () => {
    const p1 = payload();
    delete first(p1).fingerprint;
    first(p1).labels = { b: '2', a: '1' };
    const p2 = payload();
    delete first(p2).fingerprint;
    first(p2).labels = { a: '1', b: '2' };
    const p3 = payload();
    delete first(p3).fingerprint;
    first(p3).labels = { a: '1', b: '3' };
    const f1 = alertsOf(parseGrafana(p1))[0]?.fingerprint;
    expect(alertsOf(parseGrafana(p2))[0]?.fingerprint).toBe(f1);
    expect(alertsOf(parseGrafana(p3))[0]?.fingerprint).not.toBe(f1);
    expect(f1).toBe(deriveFingerprint({ a: '1', b: '2' }));
  });

  it('does not confuse label boundaries when deriving ({a:"b,c"} vs {a:"b", c:""})', () => {
    expect(deriveFingerprint({ a: 'b,c' })).not.toBe(deriveFingerprint({ a: 'b', c: '' }));
    expect(deriveFingerprint({ 'a=b': 'c' })).not.toBe(deriveFingerprint({ a: 'b=c' }));
  });

  it('accepts a minimal payload: optional Grafana fields and annotations may be absent', () => {
    const minimal = {
      version: '1',
      status: 'firing',
      alerts: [{ status: 'firing', labels: { alertname: 'x' }, startsAt: '2026-11-25T04:50:00Z' }],
    };
    const r = parseGrafana(minimal);
    if (!r.ok) throw new Error(r.reason);
    expect(r.groupKey).toBeUndefined();
    expect(r.alerts[0]).toEqual({
      source: 'grafana',
      fingerprint: deriveFingerprint({ alertname: 'x' }),
      status: 'firing',
      startsAt: '2026-11-25T04:50:00Z',
      labels: { alertname: 'x' },
      annotations: {},
    });
  });
});

describe('parseGrafana: refusals', () => {
  const cases: [string, (p: Payload) => unknown, string | RegExp][] = [
    ['labels a list', (p) => { first(p).labels = []; return p; }, 'alerts.0.labels: expected object, got a list'],
    ['a label value a number', (p) => { first(p).labels = { host: 1 }; return p; }, 'alerts.0.labels.host: expected string, got number'],
    ['state-like status', (p) => { first(p).status = 'alerting'; return p; }, 'alerts.0.status: expected "firing" or "resolved", got "alerting"'],
    ['startsAt missing', (p) => { delete first(p).startsAt; return p; }, 'alerts.0.startsAt: required (string)'],
    ['orgId a string', (p) => { p.orgId = '1'; return p; }, 'orgId: expected number, got string'],
    ['panelURL a number', (p) => { first(p).panelURL = 3; return p; }, 'alerts.0.panelURL: expected string, got number'],
    ['values a list', (p) => { first(p).values = [1]; return p; }, /^alerts\.0\.values: expected object, got a list$/],
    ['fingerprint a number', (p) => { first(p).fingerprint = 12; return p; }, 'alerts.0.fingerprint: expected string, got number'],
    ['too many labels', (p) => { first(p).labels = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, ''])); return p; }, 'alerts.0.labels: too many labels: 65 (at most 64)'],
    ['version "4"', (p) => { p.version = '4'; return p; }, /^version: expected "1" \(Grafana unified alerting\), got "4" \(version "4" is Alertmanager's/],
    ['legacy alerting body', () => ({ title: 'x', ruleId: 1, state: 'alerting' }), /legacy Grafana alerting/],
    ['not an object', () => 'x', 'payload: expected a JSON object, got string'],
  ];
  it.each(cases)('%s', (_name, mutate, expected) => {
    const reason = reasonOf(parseGrafana(mutate(payload())));
    if (typeof expected === 'string') expect(reason).toBe(expected);
    else expect(reason).toMatch(expected);
  });

  it('refuses more than 1000 alerts', () => {
    const p = payload();
    p.alerts = Array.from({ length: 1001 }, () => first(p));
    expect(reasonOf(parseGrafana(p))).toBe('alerts: too many alerts: 1001 (at most 1000 per payload)');
  });

  it('refuses the Alertmanager fixture by version', () => {
    expect(reasonOf(parseGrafana(loadFixture('alertmanager-v4.json')))).toMatch(/^version: /);
  });
});

describe('parseGrafana: property', () => {
  it('never throws on arbitrary JSON', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 5 }), (body) => {
        const r = parseGrafana(body);
        if (!r.ok) expect(r.reason).not.toContain('\n');
      }),
      { numRuns: 500 },
    );
  });

  it('never throws on mutations of the real payload, and any fingerprint it returns is non-empty', () => {
    const keys = ['status', 'labels', 'annotations', 'startsAt', 'fingerprint', 'values', 'dashboardURL'];
    fc.assert(
      fc.property(fc.constantFrom(...keys), fc.jsonValue({ maxDepth: 3 }), (key, value) => {
        const p = payload();
        first(p)[key] = value;
        const r = parseGrafana(p);
        if (r.ok) for (const a of r.alerts) expect(a.fingerprint.length).toBeGreaterThan(0);
      }),
      { numRuns: 500 },
    );
  });
});
