import { connect, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigSchema, type Settings } from '../../src/config.js';
import type { InvestigationQueue } from '../../src/integrations/queue/investigations.js';
import { MemoryIncidentStore } from '../../src/integrations/store/memory.js';
import { createLogger } from '../../src/log.js';
import { Metrics } from '../../src/service/metrics.js';
import { createTriageServer } from '../../src/service/serve.js';
import { alertmanagerPayload } from '../helpers/alertmanager.js';

const TOKEN = 's3cret-token-for-tests';

/** A queue that records what was enqueued (the BullMQ one is exercised by the pipeline tests). */
class RecordingQueue implements InvestigationQueue {
  readonly jobs = new Set<string>();
  async enqueue(id: string) {
    this.jobs.add(id);
  }
  async depth() {
    return this.jobs.size;
  }
  async close() {}
}

const settings: Settings = {
  file: null,
  sshAuthSock: undefined,
  databaseUrl: undefined,
  config: ConfigSchema.parse({
    hosts: { 'host-35': { address: '10.0.0.35', ssh: { user: 'triage', agent: true, hostKey: { acceptNew: true } } } },
    services: { checkout: { port: 2133, instances: ['host-35'] } },
    webhooks: {
      alertmanager: { auth: { type: 'bearer', token: TOKEN } },
      grafana: { auth: { type: 'hmac', secret: 'grafana-secret' } },
      generic: { auth: { type: 'basic', username: 'monitor', password: 'pw' }, mapping: { alerts: 'events', fingerprint: 'id', status: 'state', startsAt: 'since', labels: 'tags', annotations: 'notes' } },
    },
    routes: [{ match: { alertname: 'FdUsageHigh' }, runbook: 'connreset' }],
  }),
};

function payload(alerts: { fingerprint: string; instance: string; status?: 'firing' | 'resolved'; startsAt?: string }[]) {
  return alertmanagerPayload(
    alerts.map((a) => ({
      status: a.status ?? 'firing',
      labels: { alertname: 'FdUsageHigh', instance: a.instance, severity: 'page' },
      annotations: { summary: 'descriptors above 80%' },
      startsAt: a.startsAt ?? '2026-11-25T04:50:00.123456789Z',
      endsAt: a.status === 'resolved' ? '2026-11-25T05:00:00Z' : undefined,
      generatorURL: 'http://prometheus:9090/graph',
      fingerprint: a.fingerprint,
    })),
    { status: 'firing', groupLabels: { alertname: 'FdUsageHigh' } },
  );
}

let url: string;
let store: MemoryIncidentStore;
let queue: RecordingQueue;
let server: ReturnType<typeof createTriageServer>;
let failStore = false;

beforeAll(async () => {
  store = new MemoryIncidentStore();
  // A store that can be made to fail like a Redis that went away.
  const flaky = new Proxy(store, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        if (failStore && prop !== 'ping') return Promise.reject(new Error("Stream isn't writeable and enableOfflineQueue options is false"));
        if (failStore && prop === 'ping') return Promise.resolve(false);
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  queue = new RecordingQueue();
  server = createTriageServer({ settings, store: flaky, queue, metrics: new Metrics(), log: createLogger('silent', 'test') });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const post = (path: string, body: unknown, headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` }) =>
  fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });

describe('triage serve: webhooks', () => {
  it('refuses a request without valid credentials with 401 and stores nothing', async () => {
    const attempts: Record<string, string>[] = [{}, { authorization: 'Bearer wrong' }, { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` }];
    for (const headers of attempts) {
      const res = await post('/webhooks/alertmanager', payload([{ fingerprint: 'a1', instance: 'host-35:2133' }]), headers);
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: string }).error).not.toContain(TOKEN);
    }
    expect(await store.list()).toHaveLength(0);
    expect(queue.jobs.size).toBe(0);
  });

  it('answers 400 with the reason for a bad payload, and stores nothing', async () => {
    const bad = await post('/webhooks/alertmanager', { ...payload([]), alerts: 'nope' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/alerts/);
    expect((await post('/webhooks/alertmanager', '{not json')).status).toBe(400);
    expect(await store.list()).toHaveLength(0);
  });

  it('stores and enqueues a firing alert; a storm folds into the incident; a redelivery is idempotent', async () => {
    const res = await post('/webhooks/alertmanager', payload([{ fingerprint: 'f1', instance: 'host-35:2133' }]));
    expect(res.status).toBe(200);
    const body = (await res.json()) as { incidents: { id: string; created: boolean; target: string }[] };
    expect(body.incidents).toEqual([expect.objectContaining({ created: true, target: 'host-35:2133' })]);
    const id = body.incidents[0]?.id ?? '';
    expect(queue.jobs.has(id)).toBe(true);
    // the same target by address, another fingerprint: joins; a repeat: changes nothing
    await post('/webhooks/alertmanager', payload([{ fingerprint: 'f2', instance: '10.0.0.35:2133' }]));
    await post('/webhooks/alertmanager', payload([{ fingerprint: 'f2', instance: '10.0.0.35:2133' }]));
    const list = await store.list();
    expect(list).toHaveLength(1);
    expect(list[0]?.alerts.map((a) => a.fingerprint)).toEqual(['f1', 'f2']);
    expect((await store.timeline(id)).map((e) => e.type)).toEqual(['created', 'investigation-queued', 'alert-joined']);
  });

  it('records an alert that maps to no known target, and says so', async () => {
    const res = await post('/webhooks/alertmanager', payload([{ fingerprint: 'u1', instance: 'host-99:2133' }]));
    expect(res.status).toBe(200);
    const body = (await res.json()) as { unrouted: { fingerprint: string; reason: string }[] };
    expect(body.unrouted).toEqual([expect.objectContaining({ fingerprint: 'u1', reason: expect.stringMatching(/host-99/) })]);
    expect((await store.listUnrouted())[0]).toMatchObject({ fingerprint: 'u1' });
  });

  it('resolved notifications close the alert and then the incident', async () => {
    await post('/webhooks/alertmanager', payload([{ fingerprint: 'f1', instance: 'host-35:2133', status: 'resolved' }, { fingerprint: 'f2', instance: 'host-35:2133', status: 'resolved' }]));
    const [inc] = await store.list();
    expect(inc?.status).toBe('resolved');
  });

  it('answers 503 while the store is unavailable, so Alertmanager retries', async () => {
    failStore = true;
    try {
      const res = await post('/webhooks/alertmanager', payload([{ fingerprint: 'z1', instance: 'host-35:2133' }]));
      expect(res.status).toBe(503);
      expect((await fetch(`${url}/healthz`)).status).toBe(503);
    } finally {
      failStore = false;
    }
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  });

  it('exposes /metrics with webhook results', async () => {
    const text = await (await fetch(`${url}/metrics`)).text();
    expect(text).toMatch(/triage_webhook_requests_total\{source="alertmanager",result="401"\} 3/);
    expect(text).toMatch(/triage_webhook_requests_total\{source="alertmanager",result="503"\} 1/);
    expect(text).toMatch(/triage_alerts_total\{outcome="unrouted"\} 1/);
  });

  it('takes Grafana alerts signed with HMAC and a timestamp, and refuses tampered or replayed ones', async () => {
    const { createHmac } = await import('node:crypto');
    const body = JSON.stringify({
      receiver: 'triage', status: 'firing', orgId: 1, version: '1', title: '[FIRING:1] FdUsageHigh', state: 'alerting', message: 'fds', groupKey: 'g', truncatedAlerts: 0,
      groupLabels: {}, commonLabels: {}, commonAnnotations: {}, externalURL: 'http://grafana:3000/',
      alerts: [{ status: 'firing', labels: { alertname: 'FdUsageHigh', instance: 'host-35:2133' }, annotations: {}, startsAt: '2026-11-25T06:00:00Z', endsAt: '0001-01-01T00:00:00Z', generatorURL: '', fingerprint: 'g1', dashboardURL: '', panelURL: '', values: { A: 0.93 }, valueString: "[ var='A' value=0.93 ]" }],
    });
    const sign = (ts: number, b: string) => ({ 'X-Grafana-Alerting-Signature': createHmac('sha256', 'grafana-secret').update(`${ts}:${b}`).digest('hex'), 'X-Grafana-Alerting-Signature-Timestamp': String(ts) });
    const ts = Math.floor(Date.now() / 1000);
    expect((await post('/webhooks/grafana', body.replace('0.93', '0.10'), sign(ts, body))).status).toBe(401);
    expect((await post('/webhooks/grafana', body, sign(ts - 3600, body))).status).toBe(401);
    const ok = await post('/webhooks/grafana', body, sign(ts, body));
    expect(ok.status).toBe(200);
    const got = (await ok.json()) as { incidents: { target: string; created: boolean }[] };
    expect(got.incidents).toEqual([expect.objectContaining({ target: 'host-35:2133', created: true })]);
    const inc = (await store.list({ open: true }))[0];
    expect(inc?.trigger).toEqual({ kind: 'alert', source: 'grafana', alertname: 'FdUsageHigh' });
  });

  it('takes any system\'s alerts through the generic webhook with a field mapping and basic auth', async () => {
    const body = { events: [{ id: 'gen-1', state: 'TRIGGERED', since: '2026-11-25T06:05:00Z', tags: { alertname: 'FdUsageHigh', instance: 'host-35:2133' }, notes: {} }] };
    expect((await post('/webhooks/generic', body, { authorization: `Basic ${Buffer.from('monitor:nope').toString('base64')}` })).status).toBe(401);
    const res = await post('/webhooks/generic', body, { authorization: `Basic ${Buffer.from('monitor:pw').toString('base64')}` });
    expect(res.status).toBe(200);
    const inc = (await store.list({ open: true }))[0];
    expect(inc?.alerts.map((a) => a.fingerprint)).toContain('gen-1');
  });

  it('answers 413 to a body over server.maxBodyBytes, and cuts a sender that goes on and on; nothing stored', async () => {
    const before = (await store.list()).length;
    const big = await post('/webhooks/alertmanager', 'x'.repeat(1024 * 1024 + 1));
    expect(big.status).toBe(413);
    expect(big.headers.get('connection')).toBe('close');
    expect(((await big.json()) as { error: string }).error).toMatch(/^body larger than 1048576 bytes$/);
    // A sender announcing 200 MB: it gets its 413 early, and is cut off long before it has sent it all.
    const { port } = server.address() as AddressInfo;
    const sock = connect(port, '127.0.0.1');
    let answer = '';
    sock.on('data', (d: Buffer) => (answer += d.toString('latin1')));
    const written = await new Promise<number>((resolve) => {
      let n = 0;
      const chunk = Buffer.alloc(1 << 20, 0x78);
      sock.on('error', () => resolve(n));
      sock.on('close', () => resolve(n));
      sock.write(`POST /webhooks/alertmanager HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${TOKEN}\r\ncontent-type: application/json\r\ncontent-length: ${200 << 20}\r\n\r\n`);
      const pump = () => {
        while (n < 200 << 20 && !sock.destroyed) {
          n += chunk.length;
          if (!sock.write(chunk)) return void sock.once('drain', pump);
        }
        sock.end();
      };
      pump();
    });
    expect(answer).toMatch(/^HTTP\/1\.1 413 /);
    expect(written).toBeLessThan(100 << 20);
    expect(await store.list()).toHaveLength(before);
    expect((await post('/webhooks/alertmanager', payload([]))).status).toBe(200);
  });

  it('routes that are not configured answer 404', async () => {
    expect((await fetch(`${url}/nope`)).status).toBe(404);
  });
});
