import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { parseAlertmanager } from '../../../src/integrations/alerts/alertmanager.js';
import { alertsOf, clone, loadFixture, reasonOf } from './helpers.js';

const FIXTURE = loadFixture('alertmanager-v4.json');

type Payload = { alerts: Record<string, unknown>[] } & Record<string, unknown>;
function payload(): Payload {
  return clone(FIXTURE) as Payload;
}
function firstAlert(p: Payload): Record<string, unknown> {
  const a = p.alerts[0];
  if (!a) throw new Error('fixture has no alerts');
  return a;
}

describe('parseAlertmanager: the Alertmanager 0.25 fixture', () => {
  it('returns both alerts, normalised, with the group key', () => {
    const r = parseAlertmanager(FIXTURE);
    if (!r.ok) throw new Error(r.reason);
    expect(r.groupKey).toBe('{}/{severity="page"}:{alertname="ConnResetSpike"}');
    expect(r.alerts).toEqual([
      {
        source: 'alertmanager',
        fingerprint: '4b2a4ec8d2fa31c6',
        status: 'firing',
        startsAt: '2026-11-25T04:50:00.123456789Z',
        labels: { alertname: 'ConnResetSpike', instance: 'app-1:2133', job: 'app', severity: 'page' },
        annotations: {
          description: 'Passive opens reset on app-1:2133 rose to 41/s over 5m.',
          summary: 'Connection resets on app-1:2133',
        },
        generatorURL: 'http://prometheus.example.net:9090/graph?g0.expr=rate%28node_netstat_TcpExt_ListenDrops%5B5m%5D%29+%3E+10&g0.tab=1',
      },
      {
        source: 'alertmanager',
        fingerprint: '9c0e4f1d7a3b2e58',
        status: 'resolved',
        startsAt: '2026-11-25T04:41:30.5Z',
        labels: { alertname: 'ConnResetSpike', instance: 'app-2:2133', job: 'app', severity: 'page' },
        annotations: {
          description: 'Passive opens reset on app-2:2133 rose to 12/s over 5m.',
          summary: 'Connection resets on app-2:2133',
        },
        generatorURL: 'http://prometheus.example.net:9090/graph?g0.expr=rate%28node_netstat_TcpExt_ListenDrops%5B5m%5D%29+%3E+10&g0.tab=1',
      },
    ]);
  });

  it('keeps the startsAt text as received (nanoseconds are not rounded away)', () => {
    const [a] = alertsOf(parseAlertmanager(FIXTURE));
    expect(a?.startsAt).toBe('2026-11-25T04:50:00.123456789Z');
  });

  it('accepts payloads without truncatedAlerts, with an empty alert list, with extra fields, and with numeric offsets', () => {
    const p = payload();
    delete p.truncatedAlerts;
    p.someFutureField = { x: 1 };
    firstAlert(p).startsAt = '2026-11-25T05:50:00.1+01:00';
    firstAlert(p).extra = true;
    expect(alertsOf(parseAlertmanager(p))[0]?.startsAt).toBe('2026-11-25T05:50:00.1+01:00');
    const empty = payload();
    empty.alerts = [];
    expect(alertsOf(parseAlertmanager(empty))).toEqual([]);
  });

  it('reads null annotation maps (a nil Go map) as empty, and omits an empty generatorURL', () => {
    const p = payload();
    firstAlert(p).annotations = null;
    firstAlert(p).generatorURL = '';
    p.commonAnnotations = null;
    const [a] = alertsOf(parseAlertmanager(p));
    expect(a?.annotations).toEqual({});
    expect(a).not.toHaveProperty('generatorURL');
  });

  it('accepts exactly the caps: 1000 alerts, 64 labels, 1024-character values', () => {
    const p = payload();
    const labels: Record<string, string> = {};
    for (let i = 0; i < 64; i++) labels[`l${i}`] = 'v'.repeat(1024);
    p.alerts = Array.from({ length: 1000 }, (_, i) => ({ ...firstAlert(p), fingerprint: `fp${i}`, labels }));
    expect(alertsOf(parseAlertmanager(p))).toHaveLength(1000);
  });

  it('keeps a "__proto__" label as an ordinary own label and pollutes no prototype', () => {
    const p = JSON.parse(JSON.stringify(FIXTURE).replace('"job":"app"', '"__proto__":"x","job":"app"')) as unknown;
    const [a] = alertsOf(parseAlertmanager(p));
    expect(Object.hasOwn(a?.labels ?? {}, '__proto__')).toBe(true);
    expect(a?.labels.__proto__).toBe('x');
    expect(Object.getPrototypeOf(a?.labels)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });
});

describe('parseAlertmanager: refusals, each with a one-line reason naming the path', () => {
  const cases: [string, (p: Payload) => unknown, string | RegExp][] = [
    ['labels not an object', (p) => { firstAlert(p).labels = 'alertname=x'; return p; }, 'alerts.0.labels: expected object, got string'],
    ['labels a list', (p) => { firstAlert(p).labels = []; return p; }, 'alerts.0.labels: expected object, got a list'],
    ['a label value not a string', (p) => { firstAlert(p).labels = { alertname: 'x', port: 2133 }; return p; }, 'alerts.0.labels.port: expected string, got number'],
    ['an annotation value not a string', (p) => { (p.alerts[1] as Record<string, unknown>).annotations = { n: null }; return p; }, 'alerts.1.annotations.n: expected string, got null'],
    ['unknown alert status', (p) => { firstAlert(p).status = 'pending'; return p; }, 'alerts.0.status: expected "firing" or "resolved", got "pending"'],
    ['unknown group status', (p) => { p.status = 'FIRING'; return p; }, 'status: expected "firing" or "resolved", got "FIRING"'],
    ['startsAt not a timestamp', (p) => { firstAlert(p).startsAt = 'yesterday'; return p; }, /^alerts\.0\.startsAt: expected an RFC 3339 timestamp/],
    ['startsAt without a zone', (p) => { firstAlert(p).startsAt = '2026-11-25T04:50:00'; return p; }, /^alerts\.0\.startsAt: expected an RFC 3339/],
    ['startsAt with 10 fractional digits', (p) => { firstAlert(p).startsAt = '2026-11-25T04:50:00.1234567890Z'; return p; }, /^alerts\.0\.startsAt:/],
    ['startsAt month 13', (p) => { firstAlert(p).startsAt = '2026-13-25T04:50:00Z'; return p; }, /^alerts\.0\.startsAt:/],
    ['startsAt a number', (p) => { firstAlert(p).startsAt = 1764046200; return p; }, 'alerts.0.startsAt: expected string, got number'],
    ['endsAt missing', (p) => { delete firstAlert(p).endsAt; return p; }, 'alerts.0.endsAt: required (string)'],
    ['fingerprint missing', (p) => { delete firstAlert(p).fingerprint; return p; }, 'alerts.0.fingerprint: required (string)'],
    ['fingerprint empty', (p) => { firstAlert(p).fingerprint = ''; return p; }, 'alerts.0.fingerprint: must not be empty'],
    ['alerts not a list', (p) => { p.alerts = {} as never; return p; }, 'alerts: expected array, got object'],
    ['alerts missing', (p) => { delete (p as Record<string, unknown>).alerts; return p; }, 'alerts: required (array)'],
    ['an alert that is not an object', (p) => { p.alerts = [5 as never]; return p; }, 'alerts.0: expected object, got number'],
    ['groupKey missing', (p) => { delete p.groupKey; return p; }, 'groupKey: required (string)'],
    ['truncatedAlerts negative', (p) => { p.truncatedAlerts = -1; return p; }, /^truncatedAlerts:/],
    ['commonLabels a string', (p) => { p.commonLabels = 'x'; return p; }, 'commonLabels: expected object, got string'],
  ];
  it.each(cases)('%s', (_name, mutate, expected) => {
    const reason = reasonOf(parseAlertmanager(mutate(payload())));
    if (typeof expected === 'string') expect(reason).toBe(expected);
    else expect(reason).toMatch(expected);
  });

  it('counts further problems without listing them', () => {
    const p = payload();
    firstAlert(p).labels = 1;
    firstAlert(p).status = 'x';
    firstAlert(p).fingerprint = 3;
    expect(reasonOf(parseAlertmanager(p))).toMatch(/^alerts\.0\.\w+: .* \(and 2 more problems\)$/);
  });

  it.each([
    [null, 'payload: expected a JSON object, got null'],
    [[], 'payload: expected a JSON object, got a list'],
    ['{"version":"4"}', 'payload: expected a JSON object, got string'],
    [42, 'payload: expected a JSON object, got number'],
  ])('refuses a body that is not an object: %j', (body, reason) => {
    expect(reasonOf(parseAlertmanager(body))).toBe(reason);
  });

  it('refuses other versions with a clear reason', () => {
    const v3 = payload();
    v3.version = '3';
    expect(reasonOf(parseAlertmanager(v3))).toBe('version: expected "4" (Alertmanager webhook v4), got "3"');
    const num = payload();
    num.version = 4;
    expect(reasonOf(parseAlertmanager(num))).toBe('version: expected "4" (Alertmanager webhook v4), got number');
    const none = payload();
    delete none.version;
    expect(reasonOf(parseAlertmanager(none))).toBe('version: expected "4" (Alertmanager webhook v4), got nothing');
  });

  it('points a Grafana payload at the Grafana webhook', () => {
    expect(reasonOf(parseAlertmanager(loadFixture('grafana-webhook.json')))).toMatch(/got "1" \(version "1" is Grafana's/);
  });

  it('refuses more than 1000 alerts', () => {
    const p = payload();
    p.alerts = Array.from({ length: 1001 }, () => firstAlert(p));
    expect(reasonOf(parseAlertmanager(p))).toBe('alerts: too many alerts: 1001 (at most 1000 per payload)');
  });

  it('refuses more than 64 labels', () => {
    const p = payload();
    firstAlert(p).labels = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`l${i}`, 'v']));
    expect(reasonOf(parseAlertmanager(p))).toBe('alerts.0.labels: too many labels: 65 (at most 64)');
  });

  it('refuses a label value over 1024 characters', () => {
    const p = payload();
    firstAlert(p).labels = { alertname: 'x', instance: 'a'.repeat(1025) };
    expect(reasonOf(parseAlertmanager(p))).toBe('alerts.0.labels.instance: value longer than 1024 characters (1025)');
  });

  it('refuses too many group labels the same way', () => {
    const p = payload();
    p.groupLabels = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`g${i}`, 'v']));
    expect(reasonOf(parseAlertmanager(p))).toBe('groupLabels: too many labels: 100 (at most 64)');
  });

  it('escapes control characters in a reason and keeps it short', () => {
    const p = payload();
    firstAlert(p).labels = { ['evil\u001b[31m\nname' + 'x'.repeat(500)]: 7 };
    const reason = reasonOf(parseAlertmanager(p));
    expect(reason).not.toMatch(/[\u0000-\u001f]/);
    expect(reason.length).toBeLessThanOrEqual(400);
    expect(reason).toContain('\\u{1b}');
    expect(reason).toMatch(/…: expected string, got number$/);
  });
});

describe('parseAlertmanager: property', () => {
  it('never throws on arbitrary JSON, and always returns ok or a one-line reason', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 5 }), (body) => {
        const r = parseAlertmanager(body);
        if (!r.ok) expect(r.reason).not.toContain('\n');
      }),
      { numRuns: 500 },
    );
  });

  it('never throws on mutations of the real payload', () => {
    const paths = ['status', 'labels', 'annotations', 'startsAt', 'endsAt', 'generatorURL', 'fingerprint'];
    fc.assert(
      fc.property(fc.constantFrom(...paths), fc.jsonValue({ maxDepth: 3 }), fc.jsonValue({ maxDepth: 3 }), (key, value, top) => {
        const p = payload();
        firstAlert(p)[key] = value;
        p.commonLabels = top;
        const r = parseAlertmanager(p);
        if (r.ok) for (const a of r.alerts) for (const v of Object.values(a.labels)) expect(typeof v).toBe('string');
        else expect(r.reason).not.toContain('\n');
      }),
      { numRuns: 500 },
    );
  });
});
