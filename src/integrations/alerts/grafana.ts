import { z } from 'zod';
import { printable } from '../../core/target.js';
import type { AlertEvent, ParseResult } from './types.js';
import {
  ANNOTATION_LIMITS,
  AlertStatus,
  LABEL_LIMITS,
  LIMITS,
  Timestamp,
  deriveFingerprint,
  describeType,
  isPlainObject,
  payloadErrors,
  stringMapSchema,
  zodReason,
} from './common.js';

const Labels = stringMapSchema(LABEL_LIMITS, 'labels');
const Annotations = stringMapSchema(ANNOTATION_LIMITS, 'annotations', { nullAsEmpty: true });

const GrafanaAlertSchema = z.object({
  status: AlertStatus,
  labels: Labels,
  annotations: Annotations.optional(),
  startsAt: Timestamp,
  endsAt: Timestamp.optional(),
  generatorURL: z.string().optional(),
  fingerprint: z.string().max(LIMITS.fingerprintChars).optional(),
  silenceURL: z.string().optional(),
  dashboardURL: z.string().optional(),
  panelURL: z.string().optional(),
  imageURL: z.string().optional(),
  // Not used here; typed loosely so an odd value (NaN written as a string, say) does not drop the alert.
  values: z.record(z.string(), z.unknown()).nullable().optional(),
  valueString: z.string().optional(),
});

/** Grafana unified alerting's webhook body (version "1"): Alertmanager's core plus Grafana fields. */
export const GrafanaPayloadSchema = z.object({
  version: z.literal('1'),
  status: AlertStatus,
  alerts: z.array(GrafanaAlertSchema).max(LIMITS.alerts),
  orgId: z.number().int().optional(),
  title: z.string().optional(),
  state: z.string().optional(),
  message: z.string().optional(),
  receiver: z.string().optional(),
  groupKey: z.string().optional(),
  truncatedAlerts: z.number().int().nonnegative().optional(),
  groupLabels: Labels.optional(),
  commonLabels: Labels.optional(),
  commonAnnotations: Annotations.optional(),
  externalURL: z.string().optional(),
});
export type GrafanaPayload = z.infer<typeof GrafanaPayloadSchema>;

/** Validates a Grafana webhook body; never throws. A missing fingerprint is derived from the labels. */
export function parseGrafana(body: unknown): ParseResult {
  if (!isPlainObject(body)) return { ok: false, reason: `payload: expected a JSON object, got ${describeType(body)}` };
  const version = body.version;
  if (version !== '1') {
    const got = typeof version === 'string' ? `"${version.slice(0, 20)}"` : describeType(version);
    const hint = version === '4' ? ' (version "4" is Alertmanager\'s: use the Alertmanager webhook)' : '';
    const legacy = version === undefined && 'ruleId' in body ? ' (this looks like legacy Grafana alerting, which is not supported)' : '';
    return { ok: false, reason: printable(`version: expected "1" (Grafana unified alerting), got ${got}${hint}${legacy}`, 200) };
  }
  if (Array.isArray(body.alerts) && body.alerts.length > LIMITS.alerts) {
    return { ok: false, reason: `alerts: too many alerts: ${body.alerts.length} (at most ${LIMITS.alerts} per payload)` };
  }
  const parsed = GrafanaPayloadSchema.safeParse(body, { error: payloadErrors });
  if (!parsed.success) return { ok: false, reason: zodReason(parsed.error) };
  const alerts: AlertEvent[] = parsed.data.alerts.map((a) => ({
    source: 'grafana',
    fingerprint: a.fingerprint ? a.fingerprint : deriveFingerprint(a.labels),
    status: a.status,
    startsAt: a.startsAt,
    labels: a.labels,
    annotations: a.annotations ?? {},
    ...(a.generatorURL ? { generatorURL: a.generatorURL } : {}),
  }));
  return parsed.data.groupKey === undefined ? { ok: true, alerts } : { ok: true, alerts, groupKey: parsed.data.groupKey };
}
