import { execFile } from 'node:child_process';
// The alert pipeline end to end, with real parts on loopback: the db-pool lab breaks, a real
// Prometheus scraping it fires FdUsageHigh, a real Alertmanager posts the webhook (bearer token)
// to `triage serve`, which opens an incident in Redis and queues the investigation; a
// `triage worker` runs the connreset runbook over SSH (a private sshd) and stores the diagnosis.
// Then the webhook under load: 1,000 Alertmanager payloads for 10 targets make 10 incidents.

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { Incident, TimelineEvent } from '../../src/core/incident.js';
import { startLab, type LabHandle } from '../../src/lab/lab.js';
import { alertmanagerPayload, startAlertmanager, type Alertmanager } from '../helpers/alertmanager.js';
import { freePort } from '../helpers/ports.js';
import { startPrometheus, type Prometheus } from '../helpers/prometheus.js';
import { cleanPrefix, REDIS_URL, uniquePrefix } from '../helpers/redis.js';
import { startSshd, TEST_USER, type Sshd } from '../helpers/sshd.js';
import { startServe, startWorker, triageJson, type ServeProcess, type WorkerProcess } from '../helpers/triage-service.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a value other than undefined; fails with `what()` after `timeoutMs`. */
async function waitFor<T>(fn: () => Promise<T | undefined>, timeoutMs: number, what: () => string, everyMs = 1000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`not within ${timeoutMs / 1000} s: ${what()}${lastError ? `\nlast error: ${String(lastError)}` : ''}`);
    }
    await sleep(everyMs);
  }
}

const tail = (s: string, n = 3000) => (s.length > n ? `…${s.slice(-n)}` : s);

/** A counter of Alertmanager's own /metrics, summed over the series matching `labelFilter`. */
async function amCounter(am: Alertmanager, name: string, labelFilter: string): Promise<number> {
  const text = await fetch(`${am.url}/metrics`).then((r) => r.text());
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) && line.includes(labelFilter)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

type TimelineEntry = Pick<TimelineEvent, 'type' | 'at' | 'message'>;

describe('alert pipeline: lab → Prometheus → Alertmanager → serve → worker → diagnosis', () => {
  let sshd: Sshd;
  let lab: LabHandle;
  let prom: Prometheus;
  let am: Alertmanager;
  let serve: ServeProcess;
  let worker: WorkerProcess;
  let workerMetricsPort = 0;
  let dir: string;
  let configPath: string;
  let labPort: number;
  const prefix = uniquePrefix('e2e');
  const token = randomBytes(16).toString('hex');

  const outputs = () =>
    `\n--- serve:\n${tail(serve?.output() ?? '')}\n--- worker:\n${tail(worker?.output() ?? '')}\n--- alertmanager:\n${tail(am?.output() ?? '', 1000)}`;

  beforeAll(async () => {
    labPort = await freePort();
    sshd = await startSshd();
    dir = mkdtempSync(join(tmpdir(), 'triage-e2e-'));
    configPath = join(dir, 'triage.config.yaml');
    writeFileSync(
      configPath,
      stringify({
        hosts: {
          'lab-1': {
            address: '127.0.0.1',
            ssh: { port: sshd.port, user: sshd.user, keyPath: sshd.keyPath, hostKey: { knownHosts: sshd.knownHostsPath } },
          },
        },
        services: { checkout: { port: labPort, instances: ['lab-1'] } },
        redis: { url: REDIS_URL, prefix },
        server: { host: '127.0.0.1', port: await freePort() },
        worker: { concurrency: 2, lockDurationMs: 5000, stalledIntervalMs: 2000, metricsPort: (workerMetricsPort = await freePort()) },
        webhooks: { alertmanager: { auth: { type: 'bearer', token } } },
        routes: [{ match: { alertname: 'FdUsageHigh' }, runbook: 'connreset', target: { instanceLabel: 'instance' } }],
        // Ten probes: about one in five is accepted while the service is out of descriptors.
        investigation: { probePath: '/xx/checkalive', probeAttempts: 10, intervalMs: 1000 },
      }),
    );

    // Everything waits for the lab before the lab starts, so the alert follows its failure.
    serve = await startServe(configPath);
    worker = await startWorker(configPath);
    am = await startAlertmanager({
      webhookUrl: `${serve.url}/webhooks/alertmanager`,
      bearerToken: token,
      // Short, so that Alertmanager re-sends the same alert during the test.
      repeatIntervalMs: 5000,
    });
    // max_over_time: once out of descriptors the service fails most scrapes (its series go stale),
    // so the rule looks at the last minute rather than the latest scrape.
    const rules = stringify({
      groups: [
        {
          name: 'triage-e2e',
          rules: [
            {
              alert: 'FdUsageHigh',
              expr: 'max_over_time(process_open_fds[1m]) / max_over_time(process_max_fds[1m]) > 0.5',
              for: '0s',
              labels: { severity: 'page' },
              annotations: { summary: 'descriptors near the limit on {{ $labels.instance }}' },
            },
          ],
        },
      ],
    });
    const target = `127.0.0.1:${labPort}`;
    prom = await startPrometheus([target], { rules, alertmanagerUrl: am.url });

    // Prometheus starts scraping ~5 s after it is ready. Start the lab in step with its scrapes:
    // the lab's descriptors climb ~30/s and reach the limit ~4 s after start, after which new
    // scrape connections mostly fail (EMFILE); the rule needs one scrape in the ~2 s while
    // descriptors are between 50% and 100% of the limit (an early-warning threshold, which leaves
    // two scrapes in that window). Otherwise a later lucky scrape (20-70 s) would fire it.
    const scrapedAt = await waitFor(
      async () => {
        const r = await prom.query(`timestamp(up{instance="${target}"})`);
        return r[0] ? Number(r[0].value[1]) * 1000 : undefined;
      },
      30_000,
      () => `Prometheus did not scrape ${target}`,
      200,
    );
    let at = scrapedAt + 900;
    while (at < Date.now() + 50) at += 1000;
    await sleep(at - Date.now());
    // Run as the SSH user, so that user may read the lab's /proc/PID/fd (see connreset.test.ts).
    lab = await startLab({ scenario: 'db-pool', port: labPort, runAs: TEST_USER });
  }, 120_000);

  afterAll(async () => {
    await prom?.stop();
    await am?.stop();
    await Promise.all([worker?.stop(), serve?.stop()]);
    await lab?.stop();
    await sshd?.stop();
    await cleanPrefix(prefix);
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('a firing FdUsageHigh becomes one incident, investigated over SSH and diagnosed as the DB pool', async () => {
    const t0 = Date.now();
    const target = `lab-1:${labPort}`;

    const incidents = () => triageJson(['incidents', '--config', configPath]) as Promise<Incident[]>;
    const first = await waitFor(
      async () => (await incidents()).find((i) => i.target === target),
      90_000,
      () => `no incident for ${target}${outputs()}`,
    );
    const createdAfterMs = Date.now() - t0;
    expect(first.runbook).toBe('connreset');
    expect(['open', 'investigating', 'diagnosed']).toContain(first.status);
    expect(first.id).toMatch(/^inc-/);

    const show = () => triageJson(['incident', first.id, '--config', configPath]) as Promise<{ incident: Incident; timeline: TimelineEntry[] }>;
    const done = await waitFor(
      async () => {
        const r = await show();
        if (r.incident.status === 'failed') throw new Error(`investigation failed: ${r.incident.error ?? '?'}`);
        return r.incident.status === 'diagnosed' ? r : undefined;
      },
      90_000,
      () => `incident ${first.id} not diagnosed${outputs()}`,
    );
    const diagnosedAfterMs = Date.now() - t0;
    const { incident, timeline } = done;

    expect(incident.target).toBe(target);
    expect(incident.alerts.length).toBeGreaterThanOrEqual(1);
    expect(incident.alerts[0]?.labels).toMatchObject({ alertname: 'FdUsageHigh', instance: `127.0.0.1:${labPort}`, severity: 'page' });
    const report = incident.report!;
    expect(report, 'a diagnosed incident carries its report').toBeDefined();
    expect(report.target.via).toBe('ssh');
    expect(report.target).toMatchObject({ host: 'lab-1', port: labPort });
    expect(report.diagnosis.rootCause?.id, JSON.stringify(report.diagnosis, null, 1)).toBe('db-pool-saturation');

    const types = timeline.map((e) => e.type);
    expect(types.some((t) => t === 'alert-received' || t === 'created'), types.join(', ')).toBe(true);
    expect(types).toContain('investigation-started');
    expect(types).toContain('diagnosed');
    expect(types.indexOf('investigation-started')).toBeLessThan(types.lastIndexOf('diagnosed'));

    // Alertmanager keeps re-sending the firing alert (repeat_interval 5 s): it must not open another.
    await waitFor(
      async () => ((await amCounter(am, 'alertmanager_notifications_total', 'integration="webhook"')) >= 2 ? true : undefined),
      30_000,
      () => 'Alertmanager did not re-send the alert',
    );
    expect(await amCounter(am, 'alertmanager_notifications_failed_total', 'integration="webhook"'), `webhook deliveries failed${outputs()}`).toBe(0);
    const all = await incidents();
    expect(all.filter((i) => i.target === target)).toHaveLength(1);
    expect(all).toHaveLength(1);

    // Both processes account for it on /metrics.
    const serveMetrics = await (await fetch(`${serve.url}/metrics`)).text();
    expect(serveMetrics).toMatch(/triage_webhook_requests_total\{source="alertmanager",result="accepted"\} [1-9]/);
    expect(serveMetrics).toMatch(/triage_incidents\{status="diagnosed"\} 1/);
    expect(serveMetrics).toMatch(/triage_queue_depth 0/);
    const workerMetrics = await (await fetch(`http://127.0.0.1:${workerMetricsPort}/metrics`)).text();
    expect(workerMetrics).toMatch(/triage_investigations_total\{outcome="db-pool-saturation"\} 1/);
    expect(workerMetrics).toMatch(/triage_step_duration_seconds_count\{step="fds",status="ok"\} 1/);

    // The same incident for a human at a terminal.
    const text = await new Promise<string>((resolve) =>
      execFile(process.execPath, [join(import.meta.dirname, '../../dist/cli.js'), 'incident', first.id, '--config', configPath], (_e, out) => resolve(out)),
    );
    expect(text).toMatch(new RegExp(`${first.id} diagnosed — connreset on ${target.replace(/[.]/g, '\\.')}`));
    expect(text).toMatch(/investigation-started/);
    expect(text).toMatch(/db-pool-saturation/);

    // And its postmortem draft, from the same store.
    const md = await new Promise<string>((resolve) =>
      execFile(process.execPath, [join(import.meta.dirname, '../../dist/cli.js'), 'postmortem', first.id, '--config', configPath], (_e, out) => resolve(out)),
    );
    expect(md).toMatch(/^# Postmortem: connection reset by peer on checkout at lab-1:\d+/);
    for (const section of ['Summary', 'Impact', 'Detection', 'Timeline', 'Investigation', 'Root cause', 'Stop-loss and resolution', 'Reproduction', 'Fix', 'Action items', 'Lessons']) {
      expect(md, section).toMatch(new RegExp(`^## ${section}`, 'm'));
    }
    expect(md).toMatch(/db-pool-saturation → handler-blocked → close-wait-pileup → fd-exhaustion/);
    expect(md).toMatch(/FdUsageHigh/);
    expect(md).toMatch(/triage lab --scenario db-pool/);

    console.log(`alert pipeline: incident after ${createdAfterMs} ms, diagnosed after ${diagnosedAfterMs} ms after the lab started`);
  }, 240_000);
});

describe('the Alertmanager webhook under load', () => {
  let serve: ServeProcess;
  let dir: string;
  let configPath: string;
  const prefix = uniquePrefix('webhook-load');
  const token = randomBytes(16).toString('hex');
  const ports = Array.from({ length: 10 }, (_, i) => 31_001 + i);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'triage-e2e-load-'));
    configPath = join(dir, 'triage.config.yaml');
    writeFileSync(
      configPath,
      stringify({
        // Valid targets only (nothing connects: no worker runs here).
        hosts: {
          local: { address: '127.0.0.1', ssh: { port: 22, user: TEST_USER, keyPath: join(dir, 'id_none'), hostKey: { acceptNew: true } } },
        },
        redis: { url: REDIS_URL, prefix },
        server: { host: '127.0.0.1', port: await freePort() },
        webhooks: { alertmanager: { auth: { type: 'bearer', token } } },
        routes: [{ match: { alertname: 'FdUsageHigh' }, runbook: 'connreset', target: { instanceLabel: 'instance' } }],
      }),
    );
    serve = await startServe(configPath);
  }, 60_000);

  afterAll(async () => {
    await serve?.stop();
    await cleanPrefix(prefix);
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  const payload = (n: number, port: number) => {
    const labels = { alertname: 'FdUsageHigh', instance: `127.0.0.1:${port}`, job: 'lab', severity: 'page' };
    const startsAt = new Date(Date.UTC(2026, 0, 1, 0, 0, 0) + n * 1000).toISOString().replace('Z', '123456Z'); // nanoseconds, as Go prints them
    return alertmanagerPayload(
      [
        {
          labels,
          annotations: { summary: `post ${n}` },
          startsAt,
          generatorURL: 'http://prometheus:9090/graph?g0.expr=up',
          fingerprint: (0x1000_0000_0000_0000n + BigInt(n)).toString(16),
        },
      ],
      { groupLabels: { alertname: 'FdUsageHigh', instance: labels.instance } },
    );
  };

  const post = (body: string, headers: Record<string, string> = {}) =>
    fetch(`${serve.url}/webhooks/alertmanager`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
      signal: AbortSignal.timeout(30_000),
    });
  const bearer = { authorization: `Bearer ${token}` };
  const incidents = () => triageJson(['incidents', '--config', configPath, '--limit', '1000']) as Promise<Incident[]>;

  it('rejects a request without the token (401) and a bad payload (400, with a reason); neither creates anything', async () => {
    const valid = JSON.stringify(payload(0, 31_999));
    const noAuth = await post(valid);
    expect(noAuth.status).toBe(401);
    const wrongToken = await post(valid, { authorization: `Bearer ${token}x` });
    expect(wrongToken.status).toBe(401);

    for (const bad of ['{"version":"4","status":"firing","alerts":', JSON.stringify({ version: '4', status: 'firing', alerts: 42 })]) {
      const res = await post(bad, bearer);
      const text = await res.text();
      expect(res.status, text).toBe(400);
      expect(text.trim().length, 'a 400 says why').toBeGreaterThan(0);
    }
    expect(await incidents()).toEqual([]);
  });

  it('1,000 payloads for 10 targets, 20 in flight: all 200, exactly one incident per target', async () => {
    const total = 1000;
    const statuses = new Map<number, number>();
    const errors: string[] = [];
    let next = 0;
    const t0 = Date.now();
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        while (next < total) {
          const n = next++;
          try {
            const res = await post(JSON.stringify(payload(n + 1, ports[n % ports.length]!)), bearer);
            statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
            const text = await res.text();
            if (res.status !== 200 && errors.length < 5) errors.push(`${res.status} ${text.slice(0, 200)}`);
          } catch (err) {
            if (errors.length < 5) errors.push(String(err));
          }
        }
      }),
    );
    const ms = Date.now() - t0;
    expect(Object.fromEntries(statuses), errors.join('\n')).toEqual({ 200: total });
    console.log(`webhook load: ${total} posts in ${ms} ms (${Math.round((total / ms) * 1000)}/s)`);

    const list = await incidents();
    expect(list).toHaveLength(ports.length);
    expect(list.map((i) => i.target).sort()).toEqual(ports.map((p) => `local:${p}`).sort());
    for (const i of list) {
      expect(i.runbook).toBe('connreset');
      expect(['open', 'investigating', 'diagnosed', 'failed', 'resolved']).toContain(i.status);
    }
    expect(list.some((i) => i.target.endsWith(':31999'))).toBe(false);
  }, 120_000);
});
