import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { getPath, normaliseStatus, parseGeneric, type GenericMapping } from '../../../src/integrations/alerts/generic.js';
import { deriveFingerprint } from '../../../src/integrations/alerts/common.js';
import { alertsOf, reasonOf } from './helpers.js';

const DEFAULT: GenericMapping = { alerts: 'alerts', fingerprint: 'fingerprint', status: 'status', startsAt: 'startsAt', labels: 'labels', annotations: 'annotations' };
const NESTED: GenericMapping = {
  alerts: 'data.items',
  fingerprint: 'id',
  status: 'state',
  startsAt: 'time.start',
  labels: 'meta.tags',
  annotations: 'meta.notes',
};

const alert = (over: Record<string, unknown> = {}) => ({
  status: 'firing',
  startsAt: '2026-11-25T04:50:00Z',
  labels: { alertname: 'ConnResetSpike', instance: 'app-1:2133' },
  annotations: { summary: 's' },
  fingerprint: 'abc',
  ...over,
});

describe('parseGeneric: default mapping', () => {
  it('reads a list of alerts', () => {
    expect(alertsOf(parseGeneric({ alerts: [alert(), alert({ status: 'resolved', fingerprint: 'def' })] }, DEFAULT))).toEqual([
      { source: 'generic', fingerprint: 'abc', status: 'firing', startsAt: '2026-11-25T04:50:00Z', labels: { alertname: 'ConnResetSpike', instance: 'app-1:2133' }, annotations: { summary: 's' } },
      { source: 'generic', fingerprint: 'def', status: 'resolved', startsAt: '2026-11-25T04:50:00Z', labels: { alertname: 'ConnResetSpike', instance: 'app-1:2133' }, annotations: { summary: 's' } },
    ]);
  });

  it('"." reads the body itself as one alert', () => {
    const r = alertsOf(parseGeneric(alert(), { ...DEFAULT, alerts: '.' }));
    expect(r).toHaveLength(1);
    expect(r[0]?.fingerprint).toBe('abc');
  });

  it('an empty list is no alerts, not an error', () => {
    expect(alertsOf(parseGeneric({ alerts: [] }, DEFAULT))).toEqual([]);
  });

  it('derives a missing, null or empty fingerprint from the labels', () => {
    const labels = { alertname: 'ConnResetSpike', instance: 'app-1:2133' };
    for (const fp of [undefined, null, '']) {
      const a = alert({ fingerprint: fp });
      if (fp === undefined) delete (a as Record<string, unknown>).fingerprint;
      expect(alertsOf(parseGeneric({ alerts: [a] }, DEFAULT))[0]?.fingerprint).toBe(deriveFingerprint(labels));
    }
  });

  it('turns a numeric fingerprint into text', () => {
    expect(alertsOf(parseGeneric({ alerts: [alert({ fingerprint: 42 })] }, DEFAULT))[0]?.fingerprint).toBe('42');
  });

  it('missing or null annotations are empty', () => {
    const a = alert();
    delete (a as Record<string, unknown>).annotations;
    expect(alertsOf(parseGeneric({ alerts: [a, alert({ annotations: null })] }, DEFAULT)).map((x) => x.annotations)).toEqual([{}, {}]);
  });

  it('turns scalar label values (numbers, booleans) into strings', () => {
    const r = alertsOf(parseGeneric({ alerts: [alert({ labels: { port: 2133, up: false, name: 'x' } })] }, DEFAULT));
    expect(r[0]?.labels).toEqual({ port: '2133', up: 'false', name: 'x' });
  });
});

describe('parseGeneric: status words', () => {
  it.each([
    ['firing', 'firing'],
    ['FIRING', 'firing'],
    ['alerting', 'firing'],
    ['Alerting', 'firing'],
    ['triggered', 'firing'],
    [' TRIGGERED ', 'firing'],
    ['resolved', 'resolved'],
    ['Resolved', 'resolved'],
    ['ok', 'resolved'],
    ['OK', 'resolved'],
  ])('%j → %s', (word, expected) => {
    expect(normaliseStatus(word)).toBe(expected);
    expect(alertsOf(parseGeneric({ alerts: [alert({ status: word })] }, DEFAULT))[0]?.status).toBe(expected);
  });

  it.each(['pending', 'warning', '', 'firing!', 'no data'])('refuses %j', (word) => {
    expect(normaliseStatus(word)).toBeNull();
    const r = parseGeneric({ alerts: [alert({ status: word })] }, DEFAULT);
    if (word === '') expect(reasonOf(r)).toMatch(/^alerts\.0\.status: expected firing, resolved/);
    else expect(reasonOf(r)).toBe(`alerts.0.status: expected firing, resolved, alerting, ok or triggered, got "${word}"`);
  });

  it('refuses a non-string status', () => {
    expect(reasonOf(parseGeneric({ alerts: [alert({ status: 1 })] }, DEFAULT))).toBe('alerts.0.status: expected firing, resolved, alerting, ok or triggered, got number');
  });
});

describe('parseGeneric: nested mapping', () => {
  const body = {
    data: {
      items: [
        { id: 'x1', state: 'Alerting', time: { start: '2026-11-25T04:50:00.123456789Z' }, meta: { tags: { instance: 'app-1:2133' }, notes: { text: 'hi' } } },
        { state: 'OK', time: { start: '2026-11-25T04:51:00Z' }, meta: { tags: { instance: 'app-2:2133' } } },
      ],
    },
  };
  it('follows dot paths for the list and every field', () => {
    expect(alertsOf(parseGeneric(body, NESTED))).toEqual([
      { source: 'generic', fingerprint: 'x1', status: 'firing', startsAt: '2026-11-25T04:50:00.123456789Z', labels: { instance: 'app-1:2133' }, annotations: { text: 'hi' } },
      { source: 'generic', fingerprint: deriveFingerprint({ instance: 'app-2:2133' }), status: 'resolved', startsAt: '2026-11-25T04:51:00Z', labels: { instance: 'app-2:2133' }, annotations: {} },
    ]);
  });

  it('names the configured path in reasons', () => {
    const bad = { data: { items: [{ id: 'x', state: 'ok', time: {}, meta: { tags: {} } }] } };
    expect(reasonOf(parseGeneric(bad, NESTED))).toBe('data.items.0.time.start: startsAt is required');
    const badTag = { data: { items: [{ state: 'ok', time: { start: '2026-11-25T04:51:00Z' }, meta: { tags: { a: { b: 1 } } } }] } };
    expect(reasonOf(parseGeneric(badTag, NESTED))).toBe('data.items.0.meta.tags.a: expected string, got object');
  });

  it('getPath indexes lists, accepts a leading dot, and never walks into prototypes', () => {
    const root = { a: [{ b: 'x' }], n: null };
    expect(getPath(root, 'a.0.b')).toBe('x');
    expect(getPath(root, '.a.0.b')).toBe('x');
    expect(getPath(root, '.')).toBe(root);
    expect(getPath(root, 'a.1.b')).toBeUndefined();
    expect(getPath(root, 'a.x')).toBeUndefined();
    expect(getPath(root, 'a..b')).toBeUndefined();
    expect(getPath(root, 'n.x')).toBeUndefined();
    expect(getPath(root, 'constructor')).toBeUndefined();
    expect(getPath(root, '__proto__')).toBeUndefined();
    expect(getPath(root, 'a.length')).toBeUndefined();
    expect(getPath(root, 'toString')).toBeUndefined();
  });
});

describe('parseGeneric: refusals', () => {
  it.each([
    ['alerts missing', {}, 'alerts: expected a list of alerts, got nothing'],
    ['alerts an object', { alerts: { a: 1 } }, 'alerts: expected a list of alerts, got object'],
    ['an alert a string', { alerts: ['x'] }, 'alerts.0: expected object, got string'],
    ['startsAt missing', { alerts: [alert({ startsAt: undefined })] }, 'alerts.0.startsAt: startsAt is required'],
    ['startsAt a number', { alerts: [alert({ startsAt: 1764046200 })] }, 'alerts.0.startsAt: expected an RFC 3339 timestamp, got number'],
    ['startsAt not RFC 3339', { alerts: [alert({ startsAt: 'Tue Nov 25 2026' })] }, 'alerts.0.startsAt: expected an RFC 3339 timestamp like 2026-11-25T04:50:00Z'],
    ['status missing', { alerts: [alert({ status: undefined })] }, 'alerts.0.status: status is required'],
    ['labels missing', { alerts: [alert({ labels: undefined })] }, 'alerts.0.labels: labels are required'],
    ['labels a list', { alerts: [alert({ labels: ['a'] })] }, 'alerts.0.labels: expected object, got a list'],
    ['a nested label', { alerts: [alert({ labels: { a: { b: 1 } } })] }, 'alerts.0.labels.a: expected string, got object'],
    ['annotations a string', { alerts: [alert({ annotations: 'x' })] }, 'alerts.0.annotations: expected object, got string'],
    ['fingerprint an object', { alerts: [alert({ fingerprint: {} })] }, 'alerts.0.fingerprint: expected string, got object'],
    ['fingerprint too long', { alerts: [alert({ fingerprint: 'f'.repeat(129) })] }, 'alerts.0.fingerprint: longer than 128 characters'],
    ['a label value too long', { alerts: [alert({ labels: { instance: 'a'.repeat(1025) } })] }, 'alerts.0.labels.instance: value longer than 1024 characters (1025)'],
  ])('%s', (_name, body, reason) => {
    expect(reasonOf(parseGeneric(body, DEFAULT))).toBe(reason);
  });

  it('refuses more than 1000 alerts and more than 64 labels', () => {
    expect(reasonOf(parseGeneric({ alerts: Array.from({ length: 1001 }, () => alert()) }, DEFAULT))).toBe('alerts: too many alerts: 1001 (at most 1000 per payload)');
    const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v']));
    expect(reasonOf(parseGeneric({ alerts: [alert({ labels: many })] }, DEFAULT))).toBe('alerts.0.labels: too many labels: 65 (at most 64)');
  });

  it('with "." a non-object body is refused without a path', () => {
    expect(reasonOf(parseGeneric([1], { ...DEFAULT, alerts: '.' }))).toBe('expected object, got a list');
    expect(reasonOf(parseGeneric(alert({ startsAt: null }), { ...DEFAULT, alerts: '.' }))).toBe('startsAt: startsAt is required');
  });
});

describe('parseGeneric: property', () => {
  const mappings = fc.constantFrom<GenericMapping>(DEFAULT, NESTED, { ...DEFAULT, alerts: '.' }, { ...DEFAULT, labels: '.', alerts: 'x.0' });
  it('never throws on arbitrary JSON with any mapping', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 5 }), mappings, (body, mapping) => {
        const r = parseGeneric(body, mapping);
        if (!r.ok) expect(r.reason).not.toContain('\n');
      }),
      { numRuns: 500 },
    );
  });

  it('never throws with arbitrary mapping paths', () => {
    const path = fc.oneof(fc.string(), fc.constantFrom('.', '', '..', '__proto__', 'constructor.prototype', 'alerts.0'));
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), fc.record({ alerts: path, fingerprint: path, status: path, startsAt: path, labels: path, annotations: path }), (body, mapping) => {
        parseGeneric(body, mapping);
      }),
      { numRuns: 500 },
    );
  });
});
