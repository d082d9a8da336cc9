import { createHash } from 'node:crypto';
import { z } from 'zod';
import { printable } from '../../core/target.js';

/** Caps on hostile input: a payload beyond them is refused with a reason, never truncated silently. */
export const LIMITS = {
  alerts: 1000,
  labels: 64,
  labelNameChars: 1024,
  labelValueChars: 1024,
  annotations: 64,
  annotationValueChars: 16 * 1024,
  fingerprintChars: 128,
} as const;

/** RFC 3339 as Go writes it: fractional seconds up to nanoseconds, `Z` or a numeric offset. */
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?(?:Z|[+-](\d{2}):(\d{2}))$/;

export function isTimestamp(value: string): boolean {
  const m = RFC3339.exec(value);
  if (!m) return false;
  const [, , mo, d, h, mi, s, oh, om] = m.map((x) => (x === undefined ? 0 : Number(x)));
  return (
    mo !== undefined && mo >= 1 && mo <= 12 &&
    d !== undefined && d >= 1 && d <= 31 &&
    h !== undefined && h <= 23 &&
    mi !== undefined && mi <= 59 &&
    s !== undefined && s <= 60 &&
    (oh ?? 0) <= 23 && (om ?? 0) <= 59
  );
}

/** An RFC 3339 timestamp, kept as received (nanoseconds and `0001-01-01T00:00:00Z` included). */
export const Timestamp = z.string().refine(isTimestamp, { message: 'expected an RFC 3339 timestamp like 2026-11-25T04:50:00Z' });

export const AlertStatus = z.enum(['firing', 'resolved']);

/** How a value looks in a reason, without echoing it. */
export function describeType(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return typeof v;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Sets an own property even for keys like `__proto__`, so a label can never reach a prototype. */
export function setOwn(target: Record<string, string>, key: string, value: string): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

export interface StringMapLimits {
  entries: number;
  keyChars: number;
  valueChars: number;
}

export const LABEL_LIMITS: StringMapLimits = { entries: LIMITS.labels, keyChars: LIMITS.labelNameChars, valueChars: LIMITS.labelValueChars };
export const ANNOTATION_LIMITS: StringMapLimits = { entries: LIMITS.annotations, keyChars: LIMITS.labelNameChars, valueChars: LIMITS.annotationValueChars };

/**
 * Validates a JSON object of strings (labels, annotations) into a fresh object with own properties
 * only. Returns a problem as `{ path, message }` (path relative to the map) instead of throwing.
 * `coerce` turns numbers and booleans into strings (for generic senders).
 */
export function readStringMap(
  v: unknown,
  limits: StringMapLimits,
  what: string,
  coerce = false,
): { ok: true; value: Record<string, string> } | { ok: false; path: string[]; message: string } {
  if (!isPlainObject(v)) return { ok: false, path: [], message: `expected object, got ${describeType(v)}` };
  const entries = Object.entries(v);
  if (entries.length > limits.entries) return { ok: false, path: [], message: `too many ${what}: ${entries.length} (at most ${limits.entries})` };
  const out: Record<string, string> = {};
  for (const [key, raw] of entries) {
    if (key.length > limits.keyChars) return { ok: false, path: [], message: `a ${what} name is longer than ${limits.keyChars} characters` };
    let value: string;
    if (typeof raw === 'string') value = raw;
    else if (coerce && ((typeof raw === 'number' && Number.isFinite(raw)) || typeof raw === 'boolean')) value = String(raw);
    else return { ok: false, path: [key], message: `expected string, got ${describeType(raw)}` };
    if (value.length > limits.valueChars) return { ok: false, path: [key], message: `value longer than ${limits.valueChars} characters (${value.length})` };
    setOwn(out, key, value);
  }
  return { ok: true, value: out };
}

/** A zod schema around readStringMap, reporting problems at the right path. */
export function stringMapSchema(limits: StringMapLimits, what: string, opts: { nullAsEmpty?: boolean } = {}) {
  return z.unknown().transform((v, ctx) => {
    if (v === null && opts.nullAsEmpty) return {} as Record<string, string>;
    const r = readStringMap(v, limits, what);
    if (r.ok) return r.value;
    ctx.addIssue({ code: 'custom', message: r.message, path: r.path });
    return z.NEVER;
  });
}

/** Stable fingerprint of a label set: sha256 of the sorted labels, first 16 hex characters. */
export function deriveFingerprint(labels: Record<string, string>): string {
  const sorted = Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return createHash('sha256').update(JSON.stringify(sorted)).digest('hex').slice(0, 16);
}

/** Short messages for zod issues: `expected object, got a list` rather than zod's defaults. */
export const payloadErrors: z.core.$ZodErrorMap = (issue) => {
  if (issue.code === 'invalid_type') {
    const expected = issue.expected === 'record' ? 'object' : issue.expected;
    return issue.input === undefined ? `required (${expected})` : `expected ${expected}, got ${describeType(issue.input)}`;
  }
  if (issue.code === 'invalid_value') {
    const options = issue.values.map((x) => JSON.stringify(x)).join(' or ');
    const got = typeof issue.input === 'string' ? `"${issue.input}"` : describeType(issue.input);
    return `expected ${options}, got ${got}`;
  }
  if (issue.code === 'too_big' && issue.origin === 'array') return `too many entries (at most ${String(issue.maximum)})`;
  if (issue.code === 'too_big' && issue.origin === 'string') return `longer than ${String(issue.maximum)} characters`;
  if (issue.code === 'too_small' && issue.origin === 'string') return 'must not be empty';
  return undefined;
};

/** One line naming the path of the first problem, safe to log or return to a sender (escaped, bounded). */
export function formatProblem(path: readonly PropertyKey[], message: string, more = 0): string {
  const shown = path.length > 8 ? [...path.slice(0, 8), '…'] : path;
  const where = shown.map((p) => printable(String(p), 60)).join('.');
  const tail = more > 0 ? ` (and ${more} more problem${more === 1 ? '' : 's'})` : '';
  return `${where ? `${where}: ` : ''}${printable(message, 200)}${tail}`;
}

export function zodReason(error: z.ZodError): string {
  const [first] = error.issues;
  if (!first) return 'invalid payload';
  return formatProblem(first.path, first.message, error.issues.length - 1);
}
