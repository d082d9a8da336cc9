import type { AlertEvent, ParseResult } from './types.js';
import {
  ANNOTATION_LIMITS,
  LABEL_LIMITS,
  LIMITS,
  deriveFingerprint,
  describeType,
  formatProblem,
  isPlainObject,
  isTimestamp,
  readStringMap,
} from './common.js';

/** Where each field of an alert is found: dot paths (`data.items`, `tags.0`); `.` is the value itself. */
export interface GenericMapping {
  alerts: string;
  fingerprint: string;
  status: string;
  startsAt: string;
  labels: string;
  annotations: string;
}

const FIRING = new Set(['firing', 'alerting', 'triggered']);
const RESOLVED = new Set(['resolved', 'ok']);

/**
 * Follows a dot path through own properties only (never a prototype: `__proto__`, `constructor`
 * are just missing keys). A leading `.` is allowed (`.alerts` = `alerts`); `.` alone is the root.
 */
export function getPath(root: unknown, path: string): unknown {
  const p = path.trim();
  if (p === '.' || p === '') return root;
  const segments = (p.startsWith('.') ? p.slice(1) : p).split('.');
  let cur: unknown = root;
  for (const seg of segments) {
    if (seg === '') return undefined;
    if (Array.isArray(cur)) {
      if (!/^\d{1,9}$/.test(seg)) return undefined;
      cur = cur[Number(seg)];
    } else if (isPlainObject(cur)) {
      if (!Object.hasOwn(cur, seg)) return undefined;
      cur = cur[seg];
    } else {
      return undefined;
    }
  }
  return cur;
}

function join(...parts: string[]): string[] {
  return parts.flatMap((p) => {
    const t = p.trim();
    if (t === '.' || t === '') return [];
    return (t.startsWith('.') ? t.slice(1) : t).split('.');
  });
}

/** Maps a sender's status word onto firing/resolved, case-insensitively; null when unknown. */
export function normaliseStatus(value: unknown): 'firing' | 'resolved' | null {
  if (typeof value !== 'string') return null;
  const s = value.trim().toLowerCase();
  if (FIRING.has(s)) return 'firing';
  if (RESOLVED.has(s)) return 'resolved';
  return null;
}

type AlertRead = { ok: true; alert: AlertEvent } | { ok: false; reason: string };

function readAlert(raw: unknown, base: string[], mapping: GenericMapping): AlertRead {
  const fail = (field: string, message: string, sub: string[] = []): AlertRead => ({
    ok: false,
    reason: formatProblem([...base, ...join(field), ...sub], message),
  });
  if (!isPlainObject(raw)) return { ok: false, reason: formatProblem(base, `expected object, got ${describeType(raw)}`) };

  const statusRaw = getPath(raw, mapping.status);
  if (statusRaw === undefined || statusRaw === null) return fail(mapping.status, 'status is required');
  const status = normaliseStatus(statusRaw);
  if (status === null) {
    const got = typeof statusRaw === 'string' ? `"${statusRaw.slice(0, 40)}"` : describeType(statusRaw);
    return fail(mapping.status, `expected firing, resolved, alerting, ok or triggered, got ${got}`);
  }

  const startsAt = getPath(raw, mapping.startsAt);
  if (startsAt === undefined || startsAt === null || startsAt === '') return fail(mapping.startsAt, 'startsAt is required');
  if (typeof startsAt !== 'string') return fail(mapping.startsAt, `expected an RFC 3339 timestamp, got ${describeType(startsAt)}`);
  if (!isTimestamp(startsAt)) return fail(mapping.startsAt, 'expected an RFC 3339 timestamp like 2026-11-25T04:50:00Z');

  const labelsRaw = getPath(raw, mapping.labels);
  if (labelsRaw === undefined || labelsRaw === null) return fail(mapping.labels, 'labels are required');
  const labels = readStringMap(labelsRaw, LABEL_LIMITS, 'labels', true);
  if (!labels.ok) return fail(mapping.labels, labels.message, labels.path);

  const annotationsRaw = getPath(raw, mapping.annotations);
  let annotations: Record<string, string> = {};
  if (annotationsRaw !== undefined && annotationsRaw !== null) {
    const r = readStringMap(annotationsRaw, ANNOTATION_LIMITS, 'annotations', true);
    if (!r.ok) return fail(mapping.annotations, r.message, r.path);
    annotations = r.value;
  }

  const fpRaw = getPath(raw, mapping.fingerprint);
  let fingerprint: string;
  if (fpRaw === undefined || fpRaw === null || fpRaw === '') fingerprint = deriveFingerprint(labels.value);
  else if (typeof fpRaw === 'string') {
    if (fpRaw.length > LIMITS.fingerprintChars) return fail(mapping.fingerprint, `longer than ${LIMITS.fingerprintChars} characters`);
    fingerprint = fpRaw;
  } else if (typeof fpRaw === 'number' && Number.isFinite(fpRaw)) fingerprint = String(fpRaw);
  else return fail(mapping.fingerprint, `expected string, got ${describeType(fpRaw)}`);

  return { ok: true, alert: { source: 'generic', fingerprint, status, startsAt, labels: labels.value, annotations } };
}

/** Reads alerts from any JSON body through the configured mapping; never throws. */
export function parseGeneric(body: unknown, mapping: GenericMapping): ParseResult {
  let items: unknown[];
  let base: (i: number) => string[];
  if (mapping.alerts.trim() === '.' || mapping.alerts.trim() === '') {
    items = [body];
    base = () => [];
  } else {
    const list = getPath(body, mapping.alerts);
    if (!Array.isArray(list)) {
      return { ok: false, reason: formatProblem(join(mapping.alerts), `expected a list of alerts, got ${describeType(list)}`) };
    }
    if (list.length > LIMITS.alerts) {
      return { ok: false, reason: formatProblem(join(mapping.alerts), `too many alerts: ${list.length} (at most ${LIMITS.alerts} per payload)`) };
    }
    items = list;
    base = (i) => [...join(mapping.alerts), String(i)];
  }
  const alerts: AlertEvent[] = [];
  for (const [i, item] of items.entries()) {
    const r = readAlert(item, base(i), mapping);
    if (!r.ok) return r;
    alerts.push(r.alert);
  }
  return { ok: true, alerts };
}
