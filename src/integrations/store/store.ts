import { randomBytes } from 'node:crypto';
import type { AlertRef, Approval, ApprovalStatus, Incident, IncidentStatus, IncidentThread, TimelineEvent, Trigger } from '../../core/incident.js';
import type { Report } from '../../engine/report.js';

export interface OpenInput {
  runbook: string;
  /** `host:port`; with the runbook, the key under which at most one incident is open. */
  target: string;
  trigger: Trigger;
  alert?: AlertRef;
  now: Date;
}

/** An incident without its alerts: what `openOrJoin` answers, since a storm joins thousands of alerts to one incident. */
export type IncidentRecord = Omit<Incident, 'alerts'>;

export interface OpenResult {
  /** The incident opened or joined, without its alerts (read them with `get`). */
  incident: IncidentRecord;
  /** A new incident was opened: the caller enqueues its investigation. */
  created: boolean;
  /** The very same alert (fingerprint + startsAt) was already recorded: nothing changed. */
  duplicate: boolean;
}

export interface IncidentPatch {
  status?: IncidentStatus;
  thread?: IncidentThread;
  error?: string;
  report?: Report;
}

/**
 * Incidents, their timelines and their alerts. `openOrJoin` is atomic: concurrent alerts for the
 * same runbook and target open one incident, the rest join it; a repeated delivery changes nothing.
 * An incident stays open (joinable) until it is resolved.
 */
/** An alert that mapped to no known target: kept so it is reported, not dropped. */
export interface UnroutedAlert {
  at: string;
  source: string;
  fingerprint: string;
  labels: Record<string, string>;
  reason: string;
}

/** Unrouted alerts kept, newest first. */
export const UNROUTED_KEEP = 1000;

export interface IncidentStore {
  recordUnrouted(entry: UnroutedAlert): Promise<void>;
  listUnrouted(limit?: number): Promise<UnroutedAlert[]>;
  openOrJoin(input: OpenInput): Promise<OpenResult>;
  /** Marks the alert resolved on the open incident for runbook+target; resolves the incident when all its alerts are. */
  resolveAlert(runbook: string, target: string, alert: AlertRef, now: Date): Promise<Incident | null>;
  get(id: string): Promise<Incident | null>;
  /** Newest first. */
  list(opts?: { open?: boolean; limit?: number }): Promise<Incident[]>;
  timeline(id: string): Promise<TimelineEvent[]>;
  append(id: string, event: TimelineEvent): Promise<void>;
  update(id: string, patch: IncidentPatch, event?: TimelineEvent): Promise<Incident | null>;
  putApproval(a: Approval): Promise<void>;
  getApproval(hash: string): Promise<Approval | null>;
  /** Evidence kept with the incident (a forensic snapshot), by name. */
  putArtifact(incidentId: string, name: string, content: string): Promise<void>;
  getArtifact(incidentId: string, name: string): Promise<string | null>;
  listArtifacts(incidentId: string): Promise<string[]>;
  /** Approvals still waiting for a decision (for the expiry sweep). */
  pendingApprovals(): Promise<Approval[]>;
  /** Moves an approval from `from` to `to` atomically; null when it was not in `from` (decided already, double click). */
  transitionApproval(hash: string, from: ApprovalStatus, to: ApprovalStatus, patch?: Partial<Approval>): Promise<Approval | null>;
  /** Adds 1 to a counter that expires `ttlSec` after it was created; returns the new value. */
  bumpCounter(key: string, ttlSec: number): Promise<number>;
  getCounter(key: string): Promise<number>;
  /** True the first time `key` is claimed within `ttlSec` (deduplicates Slack redeliveries by event_id). */
  claimOnce(key: string, ttlSec: number): Promise<boolean>;
  /** True when the backing store answers. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

/** `inc-<time base36>-<random hex>`: sortable, never all digits, no `:` (a valid BullMQ job id). */
export function newIncidentId(now: Date): string {
  return `inc-${now.getTime().toString(36)}-${randomBytes(4).toString('hex')}`;
}

export function alertKey(fingerprint: string, startsAt: string): string {
  return `${fingerprint}@${startsAt}`;
}

export function event(type: TimelineEvent['type'], message: string, now: Date, data?: Record<string, unknown>): TimelineEvent {
  return { at: now.toISOString(), type, message, ...(data ? { data } : {}) };
}

export function isOpen(status: IncidentStatus): boolean {
  return status !== 'resolved';
}
