import { z } from 'zod';
import { printable } from '../../core/target.js';
import type { AlertEvent, ParseResult } from './types.js';
import {
  ANNOTATION_LIMITS,
  AlertStatus,
  LABEL_LIMITS,
  LIMITS,
  Timestamp,
  describeType,
  isPlainObject,
  payloadErrors,
  stringMapSchema,
  zodReason,
} from './common.js';

const Labels = stringMapSchema(LABEL_LIMITS, 'labels');
/** Alertmanager always sends annotation maps; `null` (a nil Go map) is read as empty. */
const Annotations = stringMapSchema(ANNOTATION_LIMITS, 'annotations', { nullAsEmpty: true });

const AlertSchema = z.object({
  status: AlertStatus,
  labels: Labels,
  annotations: Annotations,
  startsAt: Timestamp,
  endsAt: Timestamp,
  generatorURL: z.string(),
  fingerprint: z.string().min(1).max(LIMITS.fingerprintChars),
});

/** The webhook body of Alertmanager (version "4", unchanged since 0.x up to 0.28). Extra fields are ignored. */
export const AlertmanagerPayloadSchema = z.object({
  version: z.literal('4'),
  groupKey: z.string(),
  truncatedAlerts: z.number().int().nonnegative().optional(),
  status: AlertStatus,
  receiver: z.string(),
  groupLabels: Labels,
  commonLabels: Labels,
  commonAnnotations: Annotations,
  externalURL: z.string(),
  alerts: z.array(AlertSchema).max(LIMITS.alerts),
});
export type AlertmanagerPayload = z.infer<typeof AlertmanagerPayloadSchema>;

/** Validates an Alertmanager webhook body; never throws. */
export function parseAlertmanager(body: unknown): ParseResult {
  if (!isPlainObject(body)) return { ok: false, reason: `payload: expected a JSON object, got ${describeType(body)}` };
  const version = body.version;
  if (version !== '4') {
    const got = typeof version === 'string' ? `"${version.slice(0, 20)}"` : describeType(version);
    const hint = version === '1' ? ' (version "1" is Grafana\'s: use the Grafana webhook)' : '';
    return { ok: false, reason: printable(`version: expected "4" (Alertmanager webhook v4), got ${got}${hint}`, 200) };
  }
  if (Array.isArray(body.alerts) && body.alerts.length > LIMITS.alerts) {
    return { ok: false, reason: `alerts: too many alerts: ${body.alerts.length} (at most ${LIMITS.alerts} per payload)` };
  }
  const parsed = AlertmanagerPayloadSchema.safeParse(body, { error: payloadErrors });
  if (!parsed.success) return { ok: false, reason: zodReason(parsed.error) };
  const alerts: AlertEvent[] = parsed.data.alerts.map((a) => ({
    source: 'alertmanager',
    fingerprint: a.fingerprint,
    status: a.status,
    startsAt: a.startsAt,
    labels: a.labels,
    annotations: a.annotations,
    ...(a.generatorURL ? { generatorURL: a.generatorURL } : {}),
  }));
  return { ok: true, alerts, groupKey: parsed.data.groupKey };
}
