import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import type { AlertRef } from '../../src/core/incident.js';
import { MemoryIncidentStore } from '../../src/integrations/store/memory.js';
import { RedisIncidentStore } from '../../src/integrations/store/redis.js';
import { event, type IncidentStore } from '../../src/integrations/store/store.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefixes: string[] = [];

function alert(fp: string, startsAt = '2026-11-25T04:50:00.123456789Z', status: AlertRef['status'] = 'firing'): AlertRef {
  return { key: '', fingerprint: fp, startsAt, status, labels: { alertname: 'FdUsageHigh', instance: '10.0.0.35:2133' } };
}
const trigger = { kind: 'alert' as const, source: 'alertmanager' as const, alertname: 'FdUsageHigh' };
const now = () => new Date();

/** The contract every IncidentStore implementation passes (bullmq's adapter-conformance idea). */
function contract(name: string, make: () => Promise<IncidentStore>) {
  describe(`IncidentStore contract: ${name}`, () => {
    it('opens one incident per runbook and target; later alerts join it; a repeated delivery changes nothing', async () => {
      const s = await make();
      const a = await s.openOrJoin({ runbook: 'connreset', target: 'host-35:2133', trigger, alert: alert('f1'), now: now() });
      expect(a).toMatchObject({ created: true, duplicate: false });
      expect(a.incident).toMatchObject({ runbook: 'connreset', target: 'host-35:2133', status: 'open', trigger });
      const b = await s.openOrJoin({ runbook: 'connreset', target: 'host-35:2133', trigger, alert: alert('f2'), now: now() });
      expect(b).toMatchObject({ created: false, duplicate: false });
      expect(b.incident.id).toBe(a.incident.id);
      const again = await s.openOrJoin({ runbook: 'connreset', target: 'host-35:2133', trigger, alert: alert('f2'), now: now() });
      expect(again).toMatchObject({ created: false, duplicate: true });
      // The same fingerprint firing again later is a new alert (Alertmanager keys on startsAt too).
      const later = await s.openOrJoin({ runbook: 'connreset', target: 'host-35:2133', trigger, alert: alert('f2', '2026-11-25T05:50:00Z'), now: now() });
      expect(later.duplicate).toBe(false);
      const other = await s.openOrJoin({ runbook: 'connreset', target: 'host-36:2133', trigger, alert: alert('f1'), now: now() });
      expect(other.created).toBe(true);
      const inc = await s.get(a.incident.id);
      expect(inc?.alerts.map((x) => x.fingerprint).sort()).toEqual(['f1', 'f2', 'f2']);
      const tl = await s.timeline(a.incident.id);
      expect(tl.map((e) => e.type)).toEqual(['created', 'alert-joined', 'alert-joined']);
      await s.close();
    });

    it('openOrJoin answers the incident without its alerts (a storm joins thousands); get has every one', async () => {
      const s = await make();
      for (let i = 0; i < 300; i++) {
        const r = await s.openOrJoin({ runbook: 'connreset', target: 'host-7:80', trigger, alert: alert(`s${i}`), now: now() });
        expect(r.created).toBe(i === 0);
        expect('alerts' in r.incident, 'openOrJoin must not read back the alerts').toBe(false);
        expect(r.incident).toMatchObject({ target: 'host-7:80', status: 'open' });
      }
      const all = await s.list();
      expect(all.find((i) => i.target === 'host-7:80')?.alerts).toHaveLength(300);
      await s.close();
    });

    it('concurrent alerts for one target open exactly one incident', async () => {
      const s = await make();
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => s.openOrJoin({ runbook: 'connreset', target: 'host-9:80', trigger, alert: alert(`c${i}`), now: now() })));
      expect(results.filter((r) => r.created)).toHaveLength(1);
      expect(new Set(results.map((r) => r.incident.id)).size).toBe(1);
      expect((await s.get(results[0]?.incident.id ?? ''))?.alerts).toHaveLength(50);
      await s.close();
    });

    it('resolved notifications close the alert; the incident resolves when all have, and a new alert opens a new one', async () => {
      const s = await make();
      const a = await s.openOrJoin({ runbook: 'connreset', target: 'h:1', trigger, alert: alert('r1'), now: now() });
      await s.openOrJoin({ runbook: 'connreset', target: 'h:1', trigger, alert: alert('r2'), now: now() });
      expect((await s.resolveAlert('connreset', 'h:1', alert('r1'), now()))?.status).toBe('open');
      expect((await s.resolveAlert('connreset', 'h:1', alert('r1'), now()))?.status).toBe('open');
      expect((await s.resolveAlert('connreset', 'h:1', alert('r2'), now()))?.status).toBe('resolved');
      expect((await s.timeline(a.incident.id)).map((e) => e.type)).toEqual(['created', 'alert-joined', 'alert-resolved', 'alert-resolved', 'resolved']);
      expect(await s.resolveAlert('connreset', 'h:1', alert('r2'), now())).toBeNull();
      const next = await s.openOrJoin({ runbook: 'connreset', target: 'h:1', trigger, alert: alert('r3'), now: now() });
      expect(next.created).toBe(true);
      expect((await s.list({ open: true })).map((i) => i.id)).toContain(next.incident.id);
      expect((await s.list({ open: true })).map((i) => i.id)).not.toContain(a.incident.id);
      await s.close();
    });

    it('keeps status, error, report and the timeline; lists newest first', async () => {
      const s = await make();
      const a = await s.openOrJoin({ runbook: 'connreset', target: 'x:1', trigger: { kind: 'cli' }, now: new Date('2026-11-25T01:00:00Z') });
      const b = await s.openOrJoin({ runbook: 'connreset', target: 'y:1', trigger: { kind: 'cli' }, now: new Date('2026-11-25T02:00:00Z') });
      await s.update(a.incident.id, { status: 'investigating' }, event('investigation-started', 'started', now()));
      const failed = await s.update(a.incident.id, { status: 'failed', error: 'lab-1: SSH login refused' });
      expect(failed).toMatchObject({ status: 'failed', error: 'lab-1: SSH login refused' });
      await s.append(a.incident.id, event('step-finished', 'fds ok', now(), { step: 'fds' }));
      const tl = await s.timeline(a.incident.id);
      expect(tl.map((e) => e.type)).toEqual(['created', 'investigation-started', 'step-finished']);
      expect(tl[2]?.data).toEqual({ step: 'fds' });
      const ids = (await s.list()).map((i) => i.id);
      expect(ids.indexOf(b.incident.id)).toBeLessThan(ids.indexOf(a.incident.id));
      expect(await s.get('inc-nope')).toBeNull();
      const threaded = await s.update(b.incident.id, { thread: { channel: 'C1', ts: '1764050000.000100', progressTs: '1764050000.000200' } });
      expect(threaded?.thread).toEqual({ channel: 'C1', ts: '1764050000.000100', progressTs: '1764050000.000200' });
      expect(await s.claimOnce(`ev-${b.incident.id}`, 60)).toBe(true);
      expect(await s.claimOnce(`ev-${b.incident.id}`, 60)).toBe(false);
      await s.recordUnrouted({ at: 'x', source: 'alertmanager', fingerprint: 'u9', labels: {}, reason: 'no route' });
      expect((await s.listUnrouted(1))[0]?.fingerprint).toBe('u9');
      const approval = { hash: `h${b.incident.id}`, incidentId: b.incident.id, action: { kind: 'restart' as const, service: 's', host: 'y', address: '10.0.0.9', port: 1, argv: ['kill', '42'] }, requestedBy: 'U1', requestedAt: 'x', expiresAt: 'y', status: 'pending' as const };
      await s.putApproval(approval);
      // A double click: exactly one of two concurrent transitions wins.
      const both = await Promise.all([s.transitionApproval(approval.hash, 'pending', 'approved', { decidedBy: 'U2' }), s.transitionApproval(approval.hash, 'pending', 'approved', { decidedBy: 'U3' })]);
      expect(both.filter((x) => x !== null)).toHaveLength(1);
      expect((await s.getApproval(approval.hash))?.status).toBe('approved');
      expect(await s.transitionApproval(approval.hash, 'pending', 'denied')).toBeNull();
      expect(await s.getApproval('nope')).toBeNull();
      expect(await s.bumpCounter(`c${b.incident.id}`, 60)).toBe(1);
      expect(await s.bumpCounter(`c${b.incident.id}`, 60)).toBe(2);
      expect(await s.getCounter(`c${b.incident.id}`)).toBe(2);
      expect(await s.getCounter('never')).toBe(0);
      await s.putArtifact(b.incident.id, 'forensics-1.txt', 'fd 0 -> /dev/null\n');
      expect(await s.listArtifacts(b.incident.id)).toEqual(['forensics-1.txt']);
      expect(await s.getArtifact(b.incident.id, 'forensics-1.txt')).toBe('fd 0 -> /dev/null\n');
      expect(await s.getArtifact(b.incident.id, 'nope')).toBeNull();
      expect((await s.pendingApprovals()).map((x) => x.hash)).not.toContain(approval.hash);
      expect(await s.ping()).toBe(true);
      await s.close();
    });
  });
}

contract('memory', async () => new MemoryIncidentStore());
contract('redis', async () => {
  const prefix = `t-store-${Math.random().toString(36).slice(2, 10)}`;
  prefixes.push(prefix);
  const s = new RedisIncidentStore(REDIS_URL, prefix);
  await s.ready(5000).catch((err: Error) => {
    throw new Error(`Redis is not reachable at ${REDIS_URL} (${err.message}): start redis-server, or set REDIS_URL`);
  });
  return s;
});

afterAll(async () => {
  const r = new Redis(REDIS_URL, { lazyConnect: true });
  await r.connect().catch(() => undefined);
  for (const p of prefixes) {
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${p}:*`, 'COUNT', 500);
      cursor = next;
      if (keys.length) await r.del(...keys);
    } while (cursor !== '0');
  }
  r.disconnect();
});
