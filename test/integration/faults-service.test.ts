// Faults of the service's parts (issue 7): a worker SIGKILLed while an approved action runs, and
// Slack answering 5xx — for a moment, and for longer than the client retries. Each time the bot
// keeps serving, the incident records what failed, and nothing accepted is lost.
// Redis restarted under load on the webhook side is redis-restart.test.ts; here, the worker's
// side. (A worker killed mid-investigation: worker-reliability.test.ts.)

import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { parse as parseYaml, stringify } from 'yaml';
import { ConfigSchema, type Settings } from '../../src/config.js';
import { NodeNet } from '../../src/integrations/net/node-net.js';
import { SlackChat } from '../../src/integrations/slack/chat.js';
import { createLogger } from '../../src/log.js';
import { runApproved } from '../../src/service/actions.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Approval, Incident } from '../../src/core/incident.js';
import { RedisIncidentStore } from '../../src/integrations/store/redis.js';
import type { LabHandle } from '../../src/lab/lab.js';
import { sshConfig, startBotRig, until as poll, type BotRig } from '../helpers/bot-rig.js';
import { freePort } from '../helpers/ports.js';
import { startPrivateRedis } from '../helpers/redis.js';
import type { SlackEmulator } from '../helpers/slack-emulator.js';
import { sendButtonClick, sendEvent } from '../helpers/slack-signing.js';
import { TEST_USER, type Sshd } from '../helpers/sshd.js';
import { alertmanagerPayload } from '../helpers/alertmanager.js';
import { startServe, startWorker, type ServeProcess, type WorkerProcess } from '../helpers/triage-service.js';

const SECRET = 'faults-signing-secret';
const CHANNEL = 'C0FAULTS01';
const ALERTS = 'C0FAULTS02';
const APPROVER = 'U0APPROVER';
const REQUESTER = 'U0ALICE';

let rig: BotRig;
let slack: SlackEmulator;
let lab: LabHandle;
let sshd: Sshd;
let serve: ServeProcess;
const workers: WorkerProcess[] = [];
let store: RedisIncidentStore;
let configPath: string;
let events: string;
let actionsDir: string;
let ts = 1764070000;
const nextTs = () => `${++ts}.000100`;

const inThread = (threadTs: string) => slack.messages(CHANNEL).filter((m) => m.thread_ts === threadTs);
const textOf = (m: { text: string; blocks?: unknown[] }) => `${m.text}\n${JSON.stringify(m.blocks ?? [])}`;
/** The diagnosis message, whatever it found (a loaded machine may make the healthy lab look slow). */
const isDiagnosis = (m: { text: string; blocks?: unknown[] }) => textOf(m).includes('Diagnosis: connreset');
const logs = () => workers.map((w) => `--- worker ${w.pid}\n${w.output().slice(-2500)}`).join('\n') + `\n--- serve\n${serve?.output().slice(-2500)}`;

const until = <T>(what: string, fn: () => T | undefined | null | false | Promise<T | undefined | null | false>, timeoutMs: number) => poll(what, fn, timeoutMs, logs);

function click(user: string, hash: string, messageTs: string) {
  return sendButtonClick(events, SECRET, { user, channel: CHANNEL, messageTs, responseUrl: slack.responseUrl(), actionId: 'triage_approve', value: hash });
}

async function infoServer(url: string): Promise<string> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  r.on('error', () => {});
  try {
    await r.connect();
    return await r.info('server');
  } finally {
    r.disconnect();
  }
}

/** Resolves every open incident on the lab, so the next mention opens a new one. */
async function resolveOpen(): Promise<void> {
  for (const i of await store.list({ open: true })) await store.update(i.id, { status: 'resolved' });
}

/** A mention in a new thread; resolves with the thread and, once stored, its incident. */
async function mention(): Promise<{ thread: string; incident: () => Promise<Incident | undefined> }> {
  const thread = nextTs();
  const res = await sendEvent(events, SECRET, { type: 'app_mention', user: REQUESTER, text: `<@U0TRIAGE> connreset lab-1:${lab.port}`, ts: thread, channel: CHANNEL });
  expect(res.status).toBe(200);
  return { thread, incident: async () => (await store.list({ limit: 50 })).find((i) => i.thread?.ts === thread) };
}

const remoteLeft = (marker: string) => {
  try {
    return execFileSync('pgrep', ['-u', TEST_USER, '-f', marker], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
  } catch {
    return [];
  }
};

const lines = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter(Boolean) : []);

beforeAll(async () => {
  actionsDir = mkdtempSync(join(tmpdir(), 'triage-faults-actions-'));
  // The SSH user appends to files here: the action's command leaves a trace each time it runs.
  chmodSync(actionsDir, 0o777);
  rig = await startBotRig({
    name: 'faults-svc',
    lab: { scenario: 'healthy' },
    signingSecret: SECRET,
    config: () => ({
      slack: { alertChannel: ALERTS },
      webhooks: { alertmanager: { auth: { type: 'bearer', token: 'svc-am-token' } } },
      routes: [{ match: { alertname: 'FdUsageHigh' }, runbook: 'connreset' }],
      approvals: { approvers: [APPROVER], ttlMinutes: 30 },
      // A short lock: a killed worker's job is taken over within seconds.
      worker: { concurrency: 2, lockDurationMs: 3000, stalledIntervalMs: 1000, shutdownTimeoutMs: 3000 },
      recovery: { timeoutMs: 10_000, intervalMs: 200, probes: 2 },
      investigation: { probePath: '/', probeAttempts: 3, intervalMs: 500 },
    }),
  });
  ({ slack, lab, sshd, serve, store, configPath, events } = rig);
  workers.push(rig.worker);
  await lab.waitReady(30_000);
}, 120_000);

afterAll(async () => {
  for (const w of workers) await w.stop();
  await rig?.stop();
});

describe('faults: a worker SIGKILLed mid-action', () => {
  it('the approved command runs exactly once; the redelivered job says the outcome is unknown and does not re-run it', async () => {
    const m = await mention();
    const inc = await until('the incident and its diagnosis', async () => {
      const i = await m.incident();
      return i?.status === 'diagnosed' ? i : null;
    }, 60_000);
    const trace = join(actionsDir, 'slow.log');
    const approval: Approval = {
      hash: 'b'.repeat(32),
      incidentId: inc.id,
      action: { kind: 'restart', service: 'checkout', host: 'lab-1', address: '127.0.0.1', port: lab.port, argv: ['sh', '-c', `echo ran >> ${trace}; sleep 6`] },
      requestedBy: REQUESTER,
      requestedAt: new Date().toISOString(),
      expiresAt: new Date(Date.now() + 600_000).toISOString(),
      status: 'pending',
      message: { channel: CHANNEL, ts: m.thread },
    };
    await store.putApproval(approval);
    const first = workers[0] as WorkerProcess;
    expect((await click(APPROVER, approval.hash, m.thread)).status).toBe(200);
    // The command is running on the host: kill the worker that runs it.
    await until('the command to start on the host', () => lines(trace).length === 1, 60_000);
    first.kill9();
    const second = await startWorker(configPath);
    workers.push(second);
    const failed = await until('the redelivered job to settle the approval', async () => {
      const a = await store.getApproval(approval.hash);
      return a?.status === 'failed' ? a : null;
    }, 60_000);
    expect(failed.outcome).toBe('restart state unknown after a worker died mid-action; not re-run');
    // The command the dead worker started finishes on its own; it never ran a second time.
    await until('the remote command to end', () => remoteLeft(trace).length === 0, 30_000);
    expect(lines(trace)).toEqual(['ran']);

    const tl = await store.timeline(inc.id);
    expect(tl.filter((e) => e.type === 'action-started')).toHaveLength(1);
    const end = tl.filter((e) => e.type === 'action-finished');
    expect(end).toHaveLength(1);
    expect(end[0]?.message).toMatch(/state unknown after a worker died mid-action; not re-run: check lab-1:\d+/);
    expect(end[0]?.data).toMatchObject({ interrupted: true, outcome: 'unknown' });
    await until('the thread to say so', () => inThread(m.thread).some((x) => /died while the command ran: its outcome is unknown, and it is not run again/.test(x.text)), 10_000);
    expect((await store.get(inc.id))?.status).not.toBe('mitigated');

    // The new worker keeps serving: the next approved action runs, once, to the end.
    const quick: Approval = { ...approval, hash: 'c'.repeat(32), action: { ...approval.action, kind: 'quarantine', argv: ['sh', '-c', `echo quick >> ${actionsDir}/quick.log`] } };
    await store.putApproval(quick);
    expect((await click(APPROVER, quick.hash, m.thread)).status).toBe(200);
    const done = await until('the next action to finish', async () => {
      const a = await store.getApproval(quick.hash);
      return a?.status === 'done' || a?.status === 'failed' ? a : null;
    }, 60_000);
    expect(done.status, done.outcome).toBe('done');
    expect(lines(join(actionsDir, 'quick.log'))).toEqual(['quick']);
  }, 180_000);
});

describe('faults: a job redelivered after its worker died before the command', () => {
  it('the command runs, once: a redelivery after it finished changes nothing', async () => {
    // The state a worker leaves when it dies after approved → running but before the command.
    const settings: Settings = { file: configPath, sshAuthSock: undefined, databaseUrl: undefined, config: ConfigSchema.parse(parseYaml(readFileSync(configPath, 'utf8'))) };
    const deps = { settings, store, chat: new SlackChat({ botToken: slack.botToken, apiUrl: slack.apiUrl }), net: new NodeNet(), log: createLogger('silent', 'test') };
    const { incident, created } = await store.openOrJoin({ runbook: 'connreset', target: `lab-1:${lab.port + 7}`, trigger: { kind: 'cli' }, now: new Date() });
    expect(created).toBe(true);
    const trace = join(actionsDir, 'before-command.log');
    const a: Approval = {
      hash: 'd'.repeat(32),
      incidentId: incident.id,
      action: { kind: 'quarantine', service: 'checkout', host: 'lab-1', address: '127.0.0.1', port: lab.port, argv: ['sh', '-c', `echo ran >> ${trace}`] },
      requestedBy: REQUESTER,
      requestedAt: new Date().toISOString(),
      expiresAt: new Date(Date.now() + 600_000).toISOString(),
      status: 'running',
      decidedBy: APPROVER,
    };
    await store.putApproval(a);
    await runApproved(a.hash, deps);
    expect(lines(trace)).toEqual(['ran']);
    expect((await store.getApproval(a.hash))?.status).toBe('done');
    await runApproved(a.hash, deps);
    expect(lines(trace)).toEqual(['ran']);
    const tl = await store.timeline(incident.id);
    expect(tl.filter((e) => e.type === 'action-started')).toHaveLength(1);
    expect(tl.filter((e) => e.type === 'action-finished').map((e) => e.message)).toEqual(['quarantine exited 0']);
  }, 60_000);
});

describe('faults: Slack answering 5xx', () => {
  it('a short outage is retried with backoff: the thread gets every message, the incident completes', async () => {
    await resolveOpen();
    const before = slack.calls.length;
    slack.failNext('chat.postMessage', 2, 503);
    slack.failNext('chat.update', 2, 500);
    const m = await mention();
    await until('the diagnosis in the thread', () => inThread(m.thread).some((x) => isDiagnosis(x)), 60_000);
    const calls = slack.calls.slice(before);
    const posts = calls.filter((c) => c.method === 'chat.postMessage').map((c) => c.status);
    expect(posts.slice(0, 3)).toEqual([503, 503, 200]);
    expect(calls.filter((c) => c.method === 'chat.update').map((c) => c.status)).toContain(500);
    expect(inThread(m.thread).filter((x) => /Investigating checkout on lab-1/.test(x.text))).toHaveLength(1);
    const inc = (await m.incident()) as Incident;
    expect(inc.status).toBe('diagnosed');
    expect((await store.timeline(inc.id)).filter((e) => e.type === 'notify-failed')).toEqual([]);
  }, 120_000);

  it('a long outage: the investigation still runs and is stored, the timeline says what Slack did not get, and the bot serves on once Slack is back', async () => {
    await resolveOpen();
    for (const method of ['chat.postMessage', 'chat.update', 'files.getUploadURLExternal']) slack.failNext(method, 1_000_000, 503);
    const t0 = Date.now();
    const m = await mention();
    // An alert while Slack is down: accepted, investigated, and the missing thread noted.
    const fromAlert = fetch(`${serve.url}/webhooks/alertmanager`, {
      method: 'POST',
      headers: { authorization: 'Bearer svc-am-token', 'content-type': 'application/json' },
      body: JSON.stringify(
        alertmanagerPayload([{ labels: { alertname: 'FdUsageHigh', instance: `lab-1:${lab.port + 1}` }, startsAt: '2026-12-01T12:00:00Z', fingerprint: 'slack-down-1' }], { groupKey: 'g-slack-down' }),
      ),
    });
    const inc = await until('the incident to be diagnosed without Slack', async () => {
      const i = await m.incident();
      return i?.status === 'diagnosed' ? i : null;
    }, 120_000);
    expect(inc.report?.diagnosis).toBeDefined();
    expect(inc.thread?.ts).toBe(m.thread);
    const failures = await until('the failed report in the timeline', async () => {
      const f = (await store.timeline(inc.id)).filter((e) => e.type === 'notify-failed');
      return f.length >= 2 ? f : null;
    }, 60_000);
    expect(failures.map((e) => e.message).join('\n')).toMatch(/could not open the thread's progress message: .*503/);
    expect(failures.map((e) => e.message).join('\n')).toMatch(new RegExp(`could not post the diagnosis to Slack \\(it is kept: @triage incident ${inc.id}\\): .*503`));
    const accepted = await fromAlert;
    expect(accepted.status).toBe(200);
    const alerted = ((await accepted.json()) as { incidents: { id: string; created: boolean }[] }).incidents[0];
    expect(alerted?.created).toBe(true);
    const alertInc = await until('the alert\'s incident to be diagnosed without Slack', async () => {
      const i = await store.get(alerted?.id ?? '');
      return i?.status === 'diagnosed' ? i : null;
    }, 60_000);
    expect(alertInc.thread).toBeUndefined();
    expect((await store.timeline(alertInc.id)).find((e) => e.type === 'notify-failed')?.message).toMatch(new RegExp(`could not open the incident's Slack thread in ${ALERTS}: .*503`));
    expect(slack.messages(ALERTS)).toEqual([]);
    // Retries are bounded: every message was given up on in seconds, not Slack's default half hour.
    const elapsed = Date.now() - t0;
    expect(elapsed).toBeLessThan(90_000);
    expect(inThread(m.thread)).toEqual([]);

    slack.clearFaults();
    // The kept report on request, and the next investigation reports as usual.
    await sendEvent(events, SECRET, { type: 'app_mention', user: REQUESTER, text: `<@U0TRIAGE> incident ${inc.id}`, ts: nextTs(), thread_ts: m.thread, channel: CHANNEL });
    await until('the kept report in the thread', () => inThread(m.thread).some((x) => isDiagnosis(x)), 20_000);
    await resolveOpen();
    const next = await mention();
    await until('the next diagnosis in its thread', () => inThread(next.thread).some((x) => isDiagnosis(x)), 60_000);
    console.log(`faults: Slack down for the whole investigation: incident diagnosed and failures recorded within ${elapsed} ms`);
  }, 240_000);
});

describe('faults: Redis restarted under a working worker', () => {
  it('a restart mid-investigation: it completes, and alerts accepted around the restart are all investigated; the worker reconnects by itself', async () => {
    const redis = await startPrivateRedis();
    const rPrefix = 'faults-redis';
    const cfg = join(mkdtempSync(join(tmpdir(), 'triage-faults-redis-')), 'triage.config.yaml');
    writeFileSync(
      cfg,
      stringify({
        hosts: { 'lab-1': { address: '127.0.0.1', ssh: sshConfig(sshd) } },
        services: { checkout: { port: lab.port, instances: ['lab-1'] } },
        redis: { url: redis.url, prefix: rPrefix },
        server: { host: '127.0.0.1', port: await freePort() },
        webhooks: { alertmanager: { auth: { type: 'bearer', token: 'redis-am-token' } } },
        routes: [{ match: { alertname: 'FdUsageHigh' }, runbook: 'connreset' }],
        worker: { concurrency: 2, lockDurationMs: 3000, stalledIntervalMs: 1000, shutdownTimeoutMs: 3000 },
        // Two samples 2 s apart: the first investigation is still running when Redis goes away.
        investigation: { probePath: '/', probeAttempts: 3, intervalMs: 2000 },
      }),
    );
    const st = new RedisIncidentStore(redis.url, rPrefix);
    const srv = await startServe(cfg);
    const wrk = await startWorker(cfg);
    let n = 0;
    let unavailable = 0;
    // Like Alertmanager: a 5xx or a refused connection is retried until accepted.
    const deliver = async (target: string): Promise<string> => {
      const fingerprint = `redis-${++n}`;
      const body = JSON.stringify(
        alertmanagerPayload([{ labels: { alertname: 'FdUsageHigh', instance: target }, startsAt: '2026-12-01T11:00:00Z', fingerprint }], { groupKey: `g-${fingerprint}` }),
      );
      for (let attempt = 0; attempt < 600; attempt++) {
        const res = await fetch(`${srv.url}/webhooks/alertmanager`, { method: 'POST', headers: { authorization: 'Bearer redis-am-token', 'content-type': 'application/json' }, body }).catch(() => null);
        if (res?.status === 200) return ((await res.json()) as { incidents: { id: string }[] }).incidents[0]?.id ?? '';
        if (res && res.status !== 503) throw new Error(`unexpected ${res.status}: ${await res.text()}`);
        unavailable++;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`alert for ${target} never accepted`);
    };
    try {
      // Ports where nothing listens make quick investigations (process-down) of distinct incidents.
      const ids = [await deliver(`lab-1:${lab.port}`)];
      await until('the first investigation to be running', async () => (await st.get(ids[0] ?? ''))?.status === 'investigating', 30_000);
      const runId = async () => /run_id:(\w+)/.exec(await infoServer(redis.url))?.[1];
      const before = await runId();
      const restartedAt = Date.now();
      const restarting = redis.restart();
      // Delivered as it goes down and comes back (~0.1 s here): answered 503 and retried, or accepted.
      ids.push(...(await Promise.all([1, 2, 3].map((d) => deliver(`lab-1:${lab.port + d}`)))));
      await restarting;
      expect(await runId()).not.toBe(before);
      ids.push(await deliver(`lab-1:${lab.port + 4}`));
      expect(new Set(ids).size).toBe(5);
      for (const id of ids) {
        const done = await until(`incident ${id} to be diagnosed after the restart`, async () => {
          const i = await st.get(id);
          return i?.status === 'diagnosed' ? i : null;
        }, 90_000);
        expect(done.report?.diagnosis.rootCause).toBeTruthy();
      }
      // The first one was mid-investigation when Redis went away; it finished afterwards.
      const first = (await st.timeline(ids[0] ?? '')).find((e) => e.type === 'diagnosed');
      expect(Date.parse(first?.at ?? '')).toBeGreaterThan(restartedAt);
      console.log(`faults: Redis restarted under the worker: 5/5 incidents diagnosed; ${unavailable} deliveries answered 503 or refused and were retried`);
    } finally {
      await wrk.stop();
      await srv.stop();
      await st.close();
      await redis.stop();
    }
  }, 240_000);
});
