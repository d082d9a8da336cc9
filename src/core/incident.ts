import type { Report } from '../engine/report.js';

/** What started an incident. */
export type Trigger =
  | { kind: 'alert'; source: 'alertmanager' | 'grafana' | 'generic'; alertname: string }
  | { kind: 'cli' }
  | { kind: 'mention'; user: string; channel: string }
  | { kind: 'slash'; user: string; channel: string }
  | { kind: 'shell' };

/** The chat thread an incident reports to, and its progress message there. */
export interface IncidentThread {
  channel: string;
  /** The thread's root message. */
  ts: string;
  /** The message edited as steps finish. */
  progressTs?: string;
}

export type IncidentStatus = 'open' | 'investigating' | 'diagnosed' | 'failed' | 'resolved';

/** A timestamped entry of the incident's timeline; `type` names what happened. */
export interface TimelineEvent {
  /** ISO 8601 */
  at: string;
  type:
    | 'created'
    | 'alert-received'
    | 'alert-joined'
    | 'alert-resolved'
    | 'investigation-queued'
    | 'investigation-started'
    | 'step-finished'
    | 'diagnosed'
    | 'investigation-failed'
    | 'resolved';
  message: string;
  data?: Record<string, unknown>;
}

/** One alert folded into an incident, keyed by fingerprint + startsAt (Alertmanager re-sends). */
export interface AlertRef {
  key: string;
  fingerprint: string;
  startsAt: string;
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
}

export interface Incident {
  id: string;
  runbook: string;
  /** `host:port` as routed, the dedupe key together with the runbook. */
  target: string;
  trigger: Trigger;
  status: IncidentStatus;
  createdAt: string;
  updatedAt: string;
  alerts: AlertRef[];
  thread?: IncidentThread;
  /** Set when the investigation failed: the one-line reason. */
  error?: string;
  report?: Report;
}
