import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ConfigSchema, type Settings } from '../../src/config.js';
import { createInvestigationQueue } from '../../src/integrations/queue/investigations.js';
import { RedisIncidentStore } from '../../src/integrations/store/redis.js';
import { createLogger } from '../../src/log.js';
import { Metrics } from '../../src/service/metrics.js';
import { createTriageServer } from '../../src/service/serve.js';
import { alertmanagerPayload } from '../helpers/alertmanager.js';
import { startPrivateRedis } from '../helpers/redis.js';

const TOKEN = 'restart-token';

describe('Redis restarted under load', () => {
  it('the service answers 503 while Redis is down, reconnects, and loses no accepted alert', async () => {
    const redis = await startPrivateRedis();
    const prefix = 'restart';
    const settings: Settings = {
      file: null,
      sshAuthSock: undefined,
      databaseUrl: undefined,
      config: ConfigSchema.parse({
        hosts: { local: { address: '127.0.0.1' } },
        webhooks: { alertmanager: { auth: { type: 'bearer', token: TOKEN } } },
        routes: [{ match: { alertname: 'FdUsageHigh' }, runbook: 'connreset' }],
        redis: { url: redis.url, prefix },
      }),
    };
    const store = new RedisIncidentStore(redis.url, prefix);
    const queue = createInvestigationQueue(redis.url, prefix);
    const server = createTriageServer({ settings, store, queue, metrics: new Metrics(), log: createLogger('silent', 'test') });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/alertmanager`;
    try {
      await store.ready(5000);
      const TOTAL = 200;
      const TARGETS = 5;
      let accepted = 0;
      let unavailable = 0;
      let restarted: Promise<void> | null = null;
      // Like Alertmanager: retry on 5xx or a refused connection until accepted.
      const deliver = async (i: number) => {
        const body = JSON.stringify(
          alertmanagerPayload(
            [{ labels: { alertname: 'FdUsageHigh', instance: `127.0.0.1:${3000 + (i % TARGETS)}` }, startsAt: '2026-11-25T05:00:00Z', fingerprint: `fp${i}` }],
            { groupKey: `g${i}` },
          ),
        );
        for (let attempt = 0; attempt < 300; attempt++) {
          const res = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body }).catch(() => null);
          if (res?.status === 200) {
            accepted++;
            if (accepted === 60) restarted = redis.restart();
            return;
          }
          if (res?.status === 503) unavailable++;
          else if (res) throw new Error(`unexpected ${res.status}: ${await res.text()}`);
          await new Promise((r) => setTimeout(r, 50));
        }
        throw new Error(`alert ${i} never accepted`);
      };
      let next = 0;
      await Promise.all(Array.from({ length: 5 }, async () => {
        while (next < TOTAL) await deliver(next++);
      }));
      // Redis really went away and came back mid-load (how many requests hit the gap varies).
      expect(restarted).not.toBeNull();
      await restarted;
      expect(accepted).toBe(TOTAL);
      expect(unavailable).toBeGreaterThanOrEqual(0);
      const incidents = await store.list({ limit: 100 });
      expect(incidents).toHaveLength(TARGETS);
      const fingerprints = new Set(incidents.flatMap((i) => i.alerts.map((a) => a.fingerprint)));
      expect(fingerprints.size).toBe(TOTAL);
      // Every incident has its investigation queued, even if Redis went away between storing and enqueueing.
      expect(await queue.depth()).toBe(TARGETS);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
      await queue.close().catch(() => undefined);
      await store.close();
      await redis.stop();
    }
  });
});
