/** One alert from any webhook source, normalised. Timestamps are kept as received (ISO 8601). */
export interface AlertEvent {
  source: 'alertmanager' | 'grafana' | 'generic';
  fingerprint: string;
  status: 'firing' | 'resolved';
  startsAt: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  generatorURL?: string;
}

/** Where an alert sends the bot: a runbook and a target resolved against the inventory. */
export type RouteResult =
  | { ok: true; runbook: string; target: { host: string; port: number }; service: string | null }
  | { ok: false; reason: string };

export type ParseResult = { ok: true; alerts: AlertEvent[]; groupKey?: string } | { ok: false; reason: string };

export type AuthResult = { ok: true } | { ok: false; reason: string };
