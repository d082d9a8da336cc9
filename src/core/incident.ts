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

export type IncidentStatus = 'open' | 'investigating' | 'diagnosed' | 'failed' | 'mitigated' | 'resolved';

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
    | 'approval-requested'
    | 'approval-given'
    | 'approval-denied'
    | 'approval-refused'
    | 'approval-expired'
    | 'action-refused'
    | 'snapshot-taken'
    | 'action-started'
    | 'action-finished'
    | 'recovery-verified'
    | 'mitigated'
    | 'resolved'
    /** A chat message (the report, a failure) could not be delivered; the incident goes on without it. */
    | 'notify-failed';
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

export type ApprovalStatus = 'pending' | 'approved' | 'denied' | 'expired' | 'running' | 'done' | 'failed';

/** A proposed action waiting for, or past, a human's decision. `hash` binds it to incident, action, target and argv. */
export interface Approval {
  hash: string;
  incidentId: string;
  action: { kind: 'quarantine' | 'unquarantine' | 'restart'; service: string; host: string; address: string; port: number; argv: string[] };
  /** Who asked for the investigation (the two-person rule compares against it). */
  requestedBy: string;
  requestedAt: string;
  expiresAt: string;
  status: ApprovalStatus;
  decidedBy?: string;
  decidedAt?: string;
  /** The chat message with the buttons; a click on any other message does not count. */
  message?: { channel: string; ts: string };
  outcome?: string;
}
