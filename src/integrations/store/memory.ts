import type { Approval, ApprovalStatus, Incident, TimelineEvent } from '../../core/incident.js';
import { alertKey, event, isOpen, newIncidentId, UNROUTED_KEEP, type IncidentPatch, type IncidentRecord, type IncidentStore, type OpenInput, type OpenResult, type UnroutedAlert } from './store.js';

/** The incident store of local mode: one process, nothing kept. Same contract as the Redis one. */
export class MemoryIncidentStore implements IncidentStore {
  private readonly incidents = new Map<string, Incident>();
  private readonly timelines = new Map<string, TimelineEvent[]>();
  private readonly open = new Map<string, string>();
  private unrouted: UnroutedAlert[] = [];

  async recordUnrouted(entry: UnroutedAlert): Promise<void> {
    this.unrouted = [entry, ...this.unrouted].slice(0, UNROUTED_KEEP);
  }

  async listUnrouted(limit = 100): Promise<UnroutedAlert[]> {
    return this.unrouted.slice(0, limit);
  }

  async openOrJoin(input: OpenInput): Promise<OpenResult> {
    const key = `${input.runbook}|${input.target}`;
    const openId = this.open.get(key);
    const existing = openId ? this.incidents.get(openId) : undefined;
    if (existing) {
      if (!input.alert) return { incident: record(existing), created: false, duplicate: false };
      const k = alertKey(input.alert.fingerprint, input.alert.startsAt);
      if (existing.alerts.some((a) => a.key === k)) return { incident: record(existing), created: false, duplicate: true };
      existing.alerts.push({ ...input.alert, key: k });
      existing.updatedAt = input.now.toISOString();
      this.timelines.get(existing.id)?.push(event('alert-joined', `alert ${input.alert.labels.alertname ?? input.alert.fingerprint} joined`, input.now, { fingerprint: input.alert.fingerprint }));
      return { incident: record(existing), created: false, duplicate: false };
    }
    const id = newIncidentId(input.now);
    const incident: Incident = {
      id,
      runbook: input.runbook,
      target: input.target,
      trigger: input.trigger,
      status: 'open',
      createdAt: input.now.toISOString(),
      updatedAt: input.now.toISOString(),
      alerts: input.alert ? [{ ...input.alert, key: alertKey(input.alert.fingerprint, input.alert.startsAt) }] : [],
    };
    this.incidents.set(id, incident);
    this.open.set(key, id);
    this.timelines.set(id, [event('created', `incident opened for ${input.runbook} on ${input.target}`, input.now, { trigger: input.trigger })]);
    return { incident: record(incident), created: true, duplicate: false };
  }

  async resolveAlert(runbook: string, target: string, alert: Incident['alerts'][number], now: Date): Promise<Incident | null> {
    const id = this.open.get(`${runbook}|${target}`);
    const inc = id ? this.incidents.get(id) : undefined;
    if (!inc) return null;
    const k = alertKey(alert.fingerprint, alert.startsAt);
    const ref = inc.alerts.find((a) => a.key === k);
    if (!ref || ref.status === 'resolved') return clone(inc);
    ref.status = 'resolved';
    inc.updatedAt = now.toISOString();
    const tl = this.timelines.get(inc.id) ?? [];
    tl.push(event('alert-resolved', `alert ${alert.labels.alertname ?? alert.fingerprint} resolved`, now, { fingerprint: alert.fingerprint }));
    if (inc.alerts.every((a) => a.status === 'resolved')) {
      inc.status = 'resolved';
      this.open.delete(`${runbook}|${target}`);
      tl.push(event('resolved', 'all alerts resolved', now));
    }
    return clone(inc);
  }

  async get(id: string): Promise<Incident | null> {
    const inc = this.incidents.get(id);
    return inc ? clone(inc) : null;
  }

  async list(opts: { open?: boolean; limit?: number } = {}): Promise<Incident[]> {
    return [...this.incidents.values()]
      .filter((i) => !opts.open || isOpen(i.status))
      .sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : b.id.localeCompare(a.id)))
      .slice(0, opts.limit ?? 100)
      .map(clone);
  }

  async timeline(id: string): Promise<TimelineEvent[]> {
    return [...(this.timelines.get(id) ?? [])];
  }

  async append(id: string, e: TimelineEvent): Promise<void> {
    this.timelines.get(id)?.push(e);
  }

  async update(id: string, patch: IncidentPatch, e?: TimelineEvent): Promise<Incident | null> {
    const inc = this.incidents.get(id);
    if (!inc) return null;
    Object.assign(inc, patch, { updatedAt: new Date().toISOString() });
    if (patch.status === 'resolved') this.open.delete(`${inc.runbook}|${inc.target}`);
    if (e) this.timelines.get(id)?.push(e);
    return clone(inc);
  }

  private readonly claims = new Map<string, number>();
  private readonly approvals = new Map<string, Approval>();
  private readonly counters = new Map<string, { n: number; until: number }>();

  async putApproval(a: Approval): Promise<void> {
    this.approvals.set(a.hash, structuredClone(a));
  }

  async getApproval(hash: string): Promise<Approval | null> {
    const a = this.approvals.get(hash);
    return a ? structuredClone(a) : null;
  }

  private readonly artifacts = new Map<string, Map<string, string>>();

  async putArtifact(incidentId: string, name: string, content: string): Promise<void> {
    const m = this.artifacts.get(incidentId) ?? new Map<string, string>();
    m.set(name, content);
    this.artifacts.set(incidentId, m);
  }

  async getArtifact(incidentId: string, name: string): Promise<string | null> {
    return this.artifacts.get(incidentId)?.get(name) ?? null;
  }

  async listArtifacts(incidentId: string): Promise<string[]> {
    return [...(this.artifacts.get(incidentId)?.keys() ?? [])];
  }

  async pendingApprovals(): Promise<Approval[]> {
    return [...this.approvals.values()].filter((a) => a.status === 'pending').map((a) => structuredClone(a));
  }

  async transitionApproval(hash: string, from: ApprovalStatus, to: ApprovalStatus, patch: Partial<Approval> = {}): Promise<Approval | null> {
    const a = this.approvals.get(hash);
    if (!a || a.status !== from) return null;
    Object.assign(a, patch, { status: to });
    return structuredClone(a);
  }

  async bumpCounter(key: string, ttlSec: number): Promise<number> {
    const now = Date.now();
    const c = this.counters.get(key);
    const next = c && c.until > now ? { n: c.n + 1, until: c.until } : { n: 1, until: now + ttlSec * 1000 };
    this.counters.set(key, next);
    return next.n;
  }

  async getCounter(key: string): Promise<number> {
    const c = this.counters.get(key);
    return c && c.until > Date.now() ? c.n : 0;
  }

  async claimOnce(key: string, ttlSec: number): Promise<boolean> {
    const now = Date.now();
    const until = this.claims.get(key);
    if (until !== undefined && until > now) return false;
    this.claims.set(key, now + ttlSec * 1000);
    return true;
  }

  async ping(): Promise<boolean> {
    return true;
  }

  async close(): Promise<void> {}
}

function clone<T>(x: T): T {
  return structuredClone(x);
}

function record(inc: Incident): IncidentRecord {
  const { alerts: _alerts, ...rest } = inc;
  return clone(rest);
}
