import { Redis } from 'ioredis';
import type { AlertRef, Approval, ApprovalStatus, Incident, IncidentStatus, IncidentThread, TimelineEvent, Trigger } from '../../core/incident.js';
import type { Report } from '../../engine/report.js';
import { alertKey, event, newIncidentId, UNROUTED_KEEP, type IncidentPatch, type IncidentStore, type OpenInput, type OpenResult, type UnroutedAlert } from './store.js';

/*
 * Keys, under the prefix P:
 *   P:open:<runbook>|<target>   id of the open incident for that runbook and target
 *   P:incidents                 zset of ids by creation time
 *   P:incident:<id>             hash: id runbook target trigger status createdAt updatedAt error report
 *   P:alerts:<id>               hash: alert key -> AlertRef JSON
 *   P:timeline:<id>             list of TimelineEvent JSON
 *   P:unrouted                  list of UnroutedAlert JSON, newest first, capped
 *   P:artifacts:<id>            hash: name -> evidence kept with the incident (forensic snapshots)
 */

const OPEN_OR_JOIN = `
local P = ARGV[1]
local id = redis.call('GET', KEYS[1])
if id then
  local h = P..':incident:'..id
  if ARGV[3] == '' then return {id, 'joined', redis.call('HGETALL', h)} end
  if redis.call('HEXISTS', P..':alerts:'..id, ARGV[3]) == 1 then return {id, 'duplicate', redis.call('HGETALL', h)} end
  redis.call('HSET', P..':alerts:'..id, ARGV[3], ARGV[4])
  redis.call('HSET', h, 'updatedAt', ARGV[8])
  redis.call('RPUSH', P..':timeline:'..id, ARGV[6])
  return {id, 'joined', redis.call('HGETALL', h)}
end
id = ARGV[2]
redis.call('SET', KEYS[1], id)
redis.call('ZADD', P..':incidents', ARGV[7], id)
redis.call('HSET', P..':incident:'..id, 'id', id, 'runbook', ARGV[9], 'target', ARGV[10], 'trigger', ARGV[11], 'status', 'open', 'createdAt', ARGV[8], 'updatedAt', ARGV[8])
if ARGV[3] ~= '' then redis.call('HSET', P..':alerts:'..id, ARGV[3], ARGV[4]) end
redis.call('RPUSH', P..':timeline:'..id, ARGV[5])
return {id, 'created', redis.call('HGETALL', P..':incident:'..id)}
`;

const TRANSITION_APPROVAL = `
local raw = redis.call('GET', KEYS[1])
if not raw then return false end
local a = cjson.decode(raw)
if a.status ~= ARGV[1] then return false end
local patch = cjson.decode(ARGV[3])
for k, v in pairs(patch) do a[k] = v end
a.status = ARGV[2]
local out = cjson.encode(a)
redis.call('SET', KEYS[1], out, 'KEEPTTL')
return out
`;

const BUMP = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
`;

const RESOLVE_ALERT = `
local P = ARGV[1]
local id = redis.call('GET', KEYS[1])
if not id then return false end
local raw = redis.call('HGET', P..':alerts:'..id, ARGV[2])
if not raw then return id end
local ref = cjson.decode(raw)
if ref.status == 'resolved' then return id end
ref.status = 'resolved'
redis.call('HSET', P..':alerts:'..id, ARGV[2], cjson.encode(ref))
redis.call('HSET', P..':incident:'..id, 'updatedAt', ARGV[5])
redis.call('RPUSH', P..':timeline:'..id, ARGV[3])
for _, v in ipairs(redis.call('HVALS', P..':alerts:'..id)) do
  if cjson.decode(v).status ~= 'resolved' then return id end
end
redis.call('HSET', P..':incident:'..id, 'status', 'resolved')
redis.call('DEL', KEYS[1])
redis.call('RPUSH', P..':timeline:'..id, ARGV[4])
return id
`;

type Commands = Redis & {
  triageOpenOrJoin(key: string, ...args: string[]): Promise<[string, 'created' | 'joined' | 'duplicate', string[]]>;
  triageResolveAlert(key: string, ...args: string[]): Promise<string | null>;
  triageTransitionApproval(key: string, ...args: string[]): Promise<string | null>;
  triageBump(key: string, ttl: string): Promise<number>;
};

/**
 * Incidents in Redis (ioredis). Opening and joining is one Lua script, so concurrent alerts for a
 * target open one incident. Commands fail fast while Redis is down (no offline queue): the caller
 * answers 503 and Alertmanager retries.
 */
export class RedisIncidentStore implements IncidentStore {
  private readonly redis: Commands;

  constructor(
    url: string,
    private readonly prefix: string,
    onError: (err: Error) => void = () => {},
  ) {
    const redis = new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: false });
    redis.on('error', onError);
    redis.defineCommand('triageOpenOrJoin', { numberOfKeys: 1, lua: OPEN_OR_JOIN });
    redis.defineCommand('triageResolveAlert', { numberOfKeys: 1, lua: RESOLVE_ALERT });
    redis.defineCommand('triageTransitionApproval', { numberOfKeys: 1, lua: TRANSITION_APPROVAL });
    redis.defineCommand('triageBump', { numberOfKeys: 1, lua: BUMP });
    this.redis = redis as Commands;
  }

  /** Resolves once connected (or rejects after `timeoutMs`). */
  async ready(timeoutMs = 5000): Promise<void> {
    if (this.redis.status === 'ready') return;
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`Redis not ready within ${timeoutMs} ms`)), timeoutMs);
      this.redis.once('ready', () => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  private k(...parts: string[]): string {
    return [this.prefix, ...parts].join(':');
  }

  async openOrJoin(input: OpenInput): Promise<OpenResult> {
    const id = newIncidentId(input.now);
    const ak = input.alert ? alertKey(input.alert.fingerprint, input.alert.startsAt) : '';
    const alertJson = input.alert ? JSON.stringify({ ...input.alert, key: ak }) : '';
    const created = event('created', `incident opened for ${input.runbook} on ${input.target}`, input.now, { trigger: input.trigger });
    const joined = event('alert-joined', `alert ${input.alert?.labels.alertname ?? input.alert?.fingerprint ?? ''} joined`, input.now, input.alert ? { fingerprint: input.alert.fingerprint } : undefined);
    const [gotId, what, flat] = await this.redis.triageOpenOrJoin(
      this.k('open', `${input.runbook}|${input.target}`),
      this.prefix,
      id,
      ak,
      alertJson,
      JSON.stringify(created),
      JSON.stringify(joined),
      String(input.now.getTime()),
      input.now.toISOString(),
      input.runbook,
      input.target,
      JSON.stringify(input.trigger),
    );
    // The incident's hash comes back from the script itself: one round trip per alert.
    const h: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) h[flat[i]!] = flat[i + 1]!;
    if (!h.id) throw new Error(`incident ${gotId} vanished`);
    const { alerts: _alerts, ...incident } = toIncident(h, []);
    return { incident, created: what === 'created', duplicate: what === 'duplicate' };
  }

  async recordUnrouted(entry: UnroutedAlert): Promise<void> {
    await this.redis.multi().lpush(this.k('unrouted'), JSON.stringify(entry)).ltrim(this.k('unrouted'), 0, UNROUTED_KEEP - 1).exec();
  }

  async listUnrouted(limit = 100): Promise<UnroutedAlert[]> {
    return (await this.redis.lrange(this.k('unrouted'), 0, limit - 1)).map((s) => JSON.parse(s) as UnroutedAlert);
  }

  async resolveAlert(runbook: string, target: string, alert: AlertRef, now: Date): Promise<Incident | null> {
    const id = await this.redis.triageResolveAlert(
      this.k('open', `${runbook}|${target}`),
      this.prefix,
      alertKey(alert.fingerprint, alert.startsAt),
      JSON.stringify(event('alert-resolved', `alert ${alert.labels.alertname ?? alert.fingerprint} resolved`, now, { fingerprint: alert.fingerprint })),
      JSON.stringify(event('resolved', 'all alerts resolved', now)),
      now.toISOString(),
    );
    return id ? this.get(id) : null;
  }

  async get(id: string): Promise<Incident | null> {
    const [h, alerts] = await Promise.all([this.redis.hgetall(this.k('incident', id)), this.redis.hvals(this.k('alerts', id))]);
    return h.id ? toIncident(h, alerts) : null;
  }

  async list(opts: { open?: boolean; limit?: number } = {}): Promise<Incident[]> {
    const limit = opts.limit ?? 100;
    const out: Incident[] = [];
    // Page through newest first until enough match the filter.
    for (let start = 0; out.length < limit; start += 200) {
      const ids = await this.redis.zrevrange(this.k('incidents'), start, start + 199);
      if (ids.length === 0) break;
      const pipe = this.redis.pipeline();
      for (const id of ids) {
        pipe.hgetall(this.k('incident', id));
        pipe.hvals(this.k('alerts', id));
      }
      const res = (await pipe.exec()) ?? [];
      for (let i = 0; i < ids.length; i++) {
        const h = res[2 * i]?.[1] as Record<string, string> | undefined;
        const a = res[2 * i + 1]?.[1] as string[] | undefined;
        if (!h?.id) continue;
        const inc = toIncident(h, a ?? []);
        if (!opts.open || inc.status !== 'resolved') out.push(inc);
        if (out.length >= limit) break;
      }
    }
    return out;
  }

  async timeline(id: string): Promise<TimelineEvent[]> {
    return (await this.redis.lrange(this.k('timeline', id), 0, -1)).map((s) => JSON.parse(s) as TimelineEvent);
  }

  async append(id: string, e: TimelineEvent): Promise<void> {
    await this.redis.rpush(this.k('timeline', id), JSON.stringify(e));
  }

  async update(id: string, patch: IncidentPatch, e?: TimelineEvent): Promise<Incident | null> {
    const fields: Record<string, string> = { updatedAt: new Date().toISOString() };
    if (patch.status) fields.status = patch.status;
    if (patch.error !== undefined) fields.error = patch.error;
    if (patch.report) fields.report = JSON.stringify(patch.report);
    if (patch.thread) fields.thread = JSON.stringify(patch.thread);
    const m = this.redis.multi().hset(this.k('incident', id), fields);
    if (e) m.rpush(this.k('timeline', id), JSON.stringify(e));
    await m.exec();
    if (patch.status === 'resolved') {
      const inc = await this.get(id);
      if (inc) {
        const key = this.k('open', `${inc.runbook}|${inc.target}`);
        // Only drop the pointer if it still points at this incident.
        if ((await this.redis.get(key)) === id) await this.redis.del(key);
      }
    }
    return this.get(id);
  }

  async putApproval(a: Approval): Promise<void> {
    // Kept a week: the audit trail is the timeline; the record is what a click is checked against.
    const m = this.redis.multi().set(this.k('approval', a.hash), JSON.stringify(a), 'EX', 7 * 24 * 3600);
    if (a.status === 'pending') m.sadd(this.k('approvals', 'pending'), a.hash);
    await m.exec();
  }

  async putArtifact(incidentId: string, name: string, content: string): Promise<void> {
    await this.redis.hset(this.k('artifacts', incidentId), name, content);
  }

  async getArtifact(incidentId: string, name: string): Promise<string | null> {
    return this.redis.hget(this.k('artifacts', incidentId), name);
  }

  async listArtifacts(incidentId: string): Promise<string[]> {
    return this.redis.hkeys(this.k('artifacts', incidentId));
  }

  async pendingApprovals(): Promise<Approval[]> {
    const hashes = await this.redis.smembers(this.k('approvals', 'pending'));
    const out: Approval[] = [];
    for (const h of hashes) {
      const a = await this.getApproval(h);
      if (a?.status === 'pending') out.push(a);
      else await this.redis.srem(this.k('approvals', 'pending'), h);
    }
    return out;
  }

  async getApproval(hash: string): Promise<Approval | null> {
    const raw = await this.redis.get(this.k('approval', hash));
    return raw ? (JSON.parse(raw) as Approval) : null;
  }

  async transitionApproval(hash: string, from: ApprovalStatus, to: ApprovalStatus, patch: Partial<Approval> = {}): Promise<Approval | null> {
    const out = await this.redis.triageTransitionApproval(this.k('approval', hash), from, to, JSON.stringify(patch));
    return out ? (JSON.parse(out) as Approval) : null;
  }

  async bumpCounter(key: string, ttlSec: number): Promise<number> {
    return Number(await this.redis.triageBump(this.k('counter', key), String(ttlSec)));
  }

  async getCounter(key: string): Promise<number> {
    return Number((await this.redis.get(this.k('counter', key))) ?? 0);
  }

  async claimOnce(key: string, ttlSec: number): Promise<boolean> {
    return (await this.redis.set(this.k('claim', key), '1', 'EX', ttlSec, 'NX')) === 'OK';
  }

  async ping(): Promise<boolean> {
    try {
      return (await this.redis.ping()) === 'PONG';
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }
}

function toIncident(h: Record<string, string>, alerts: string[]): Incident {
  const inc: Incident = {
    id: h.id ?? '',
    runbook: h.runbook ?? '',
    target: h.target ?? '',
    trigger: JSON.parse(h.trigger ?? '{"kind":"cli"}') as Trigger,
    status: (h.status ?? 'open') as IncidentStatus,
    createdAt: h.createdAt ?? '',
    updatedAt: h.updatedAt ?? '',
    alerts: alerts.map((a) => JSON.parse(a) as AlertRef).sort((a, b) => (a.startsAt < b.startsAt ? -1 : 1)),
  };
  if (h.error) inc.error = h.error;
  if (h.thread) inc.thread = JSON.parse(h.thread) as IncidentThread;
  if (h.report) inc.report = JSON.parse(h.report) as Report;
  return inc;
}
