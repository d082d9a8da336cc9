import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LabHandle } from '../../src/lab/lab.js';
import { startBotRig, until as poll, type BotRig } from '../helpers/bot-rig.js';
import type { SlackEmulator } from '../helpers/slack-emulator.js';
import { sendCommand, sendEvent } from '../helpers/slack-signing.js';
import { alertmanagerPayload } from '../helpers/alertmanager.js';
import { triageJson, type ServeProcess } from '../helpers/triage-service.js';

const SECRET = 'slack-signing-secret-for-tests';
const CHANNEL = 'C0INCIDENT';
const ALERTS = 'C0ALERTS01';

let rig: BotRig;
let slack: SlackEmulator;
let lab: LabHandle;
let serve: ServeProcess;
let configPath: string;
let events: string;
let ts = 1764050000;

const nextTs = () => `${++ts}.000100`;
const texts = (channel: string, threadTs: string) =>
  slack.messages(channel).filter((m) => m.thread_ts === threadTs).map((m) => `${m.text}\n${JSON.stringify(m.blocks ?? [])}`);

const until = (what: string, pred: () => boolean | Promise<boolean>, timeoutMs: number) =>
  poll(what, pred, timeoutMs, () => `calls: ${slack.calls.map((c) => `${c.method}:${c.status}`).join(' ')}\n${rig?.logs()}`);

beforeAll(async () => {
  rig = await startBotRig({
    name: 'slack',
    lab: { scenario: 'db-pool' },
    signingSecret: SECRET,
    config: () => ({
      worker: { concurrency: 2 },
      webhooks: { alertmanager: { auth: { type: 'bearer', token: 'am-token' } } },
      routes: [{ match: { alertname: 'FdUsageHigh' }, runbook: 'connreset' }],
      slack: { alertChannel: ALERTS, progressEditIntervalMs: 300 },
      investigation: { probePath: '/xx/checkalive', probeAttempts: 10, intervalMs: 1000 },
    }),
  });
  ({ slack, lab, serve, configPath, events } = rig);
  await lab.waitForFailure(45_000);
}, 120_000);

afterAll(async () => {
  await rig?.stop();
});

describe('Slack: mention the bot, the findings arrive in the thread', () => {
  it('a mention opens a thread, edits the progress message as steps finish, and ends with the diagnosis', async () => {
    const mention = nextTs();
    const t0 = Date.now();
    const res = await sendEvent(events, SECRET, { type: 'app_mention', user: 'U0ALICE', text: `<@U0TRIAGE> connreset lab-1:${lab.port}`, ts: mention, channel: CHANNEL, event_ts: mention });
    expect(res.status).toBe(200);
    await until('the first message in the thread', () => texts(CHANNEL, mention).length > 0, 5000);
    const firstAfter = Date.now() - t0;
    expect(texts(CHANNEL, mention)[0]).toMatch(new RegExp(`Investigating checkout on lab-1:${lab.port} — runbook connreset`));
    await until('the diagnosis', () => texts(CHANNEL, mention).some((t) => t.includes('db-pool-saturation')), 60_000);
    const thread = texts(CHANNEL, mention).join('\n');
    expect(thread).toMatch(/CLOSE_WAIT/);
    expect(thread).toMatch(/descriptors open/);
    expect(thread).toMatch(/db-pool-saturation → handler-blocked → close-wait-pileup → fd-exhaustion → reset/);
    const progress = slack.messages(CHANNEL).find((m) => m.thread_ts === mention);
    expect(progress?.edits).toBeGreaterThan(0);
    expect(progress?.text).not.toMatch(/…|running/);
    // Everything the bot sent was within Slack's limits.
    expect(slack.calls.filter((c) => c.status !== 200)).toEqual([]);
    const incidents = (await triageJson(['incidents', '--config', configPath])) as { target: string; thread?: { channel: string; ts: string } }[];
    expect(incidents.find((i) => i.target === `lab-1:${lab.port}`)?.thread).toMatchObject({ channel: CHANNEL, ts: mention });
    console.log(`slack: first message after ${firstAfter} ms`);
  });

  it('refuses unsigned, tampered and replayed requests with 401, and nothing runs', async () => {
    const before = slack.calls.length;
    const ev = { type: 'app_mention', user: 'U0MALLORY', text: '<@U0TRIAGE> connreset lab-1:1', ts: nextTs(), channel: CHANNEL };
    expect((await sendEvent(events, SECRET, ev, { unsigned: true })).status).toBe(401);
    expect((await sendEvent(events, SECRET, ev, { tamper: true })).status).toBe(401);
    expect((await sendEvent(events, SECRET, ev, { ts: Math.floor(Date.now() / 1000) - 6 * 60 })).status).toBe(401);
    expect((await sendEvent(events, 'wrong-secret', ev)).status).toBe(401);
    await new Promise((r) => setTimeout(r, 500));
    expect(slack.calls.slice(before)).toEqual([]);
  });

  it('a redelivered event (x-slack-retry-num, same event_id) does not start a second investigation', async () => {
    const mention = nextTs();
    // A port where nothing listens: a quick investigation (process-down) of its own incident.
    const ev = { type: 'app_mention', user: 'U0BOB', text: `<@U0TRIAGE> connreset lab-1:${lab.port + 2}`, ts: mention, channel: CHANNEL };
    await sendEvent(events, SECRET, ev, { eventId: 'Ev0REDELIVER' });
    await sendEvent(events, SECRET, ev, { eventId: 'Ev0REDELIVER', retryNum: 1 });
    await sendEvent(events, SECRET, ev, { eventId: 'Ev0REDELIVER', retryNum: 2 });
    await until('its diagnosis', () => texts(CHANNEL, mention).some((t) => t.includes('process-down')), 30_000);
    const thread = texts(CHANNEL, mention);
    expect(thread.filter((t) => /Investigating/.test(t))).toHaveLength(1);
    expect(thread.filter((t) => /Already on it/.test(t))).toHaveLength(0);
    const incidents = (await triageJson(['incidents', '--config', configPath])) as { target: string }[];
    expect(incidents.filter((i) => i.target === `lab-1:${lab.port + 2}`)).toHaveLength(1);
  });

  it('bad input gets a short usage reply only the user sees; hosts outside the inventory are refused by name', async () => {
    const r1 = await sendCommand(events, SECRET, { command: '/triage', text: 'connreset host-99:2133', user_id: 'U0CAROL', channel_id: CHANNEL });
    expect(r1.status).toBe(200);
    const r2 = await sendCommand(events, SECRET, { command: '/triage', text: 'connreset host-35;reboot:2133', user_id: 'U0CAROL', channel_id: CHANNEL });
    expect(r2.status).toBe(200);
    const mention = nextTs();
    await sendEvent(events, SECRET, { type: 'app_mention', user: 'U0CAROL', text: '<@U0TRIAGE> reboot everything', ts: mention, channel: CHANNEL });
    await until('three usage replies', () => slack.ephemerals.filter((e) => e.user === 'U0CAROL').length >= 3, 5000);
    const replies = slack.ephemerals.filter((e) => e.user === 'U0CAROL').map((e) => `${e.text} ${JSON.stringify(e.blocks ?? [])}`);
    expect(replies.some((t) => /host-99/.test(t) && /not in the inventory/.test(t))).toBe(true);
    expect(replies.some((t) => /not a host name/.test(t))).toBe(true);
    expect(replies.some((t) => /unknown|usage|connreset HOST:PORT/i.test(t))).toBe(true);
    expect(texts(CHANNEL, mention)).toEqual([]);
  });

  it('a 429 from Slack is honoured and the message still arrives', async () => {
    slack.rateLimit('chat.postEphemeral', 1, 1);
    const before = slack.callsTo('chat.postEphemeral').length;
    await sendEvent(events, SECRET, { type: 'app_mention', user: 'U0DAVE', text: '<@U0TRIAGE> status', ts: nextTs(), channel: CHANNEL });
    await until('the status reply after the rate limit', () => slack.ephemerals.some((e) => e.user === 'U0DAVE'), 15_000);
    const calls = slack.callsTo('chat.postEphemeral').slice(before);
    expect(calls.map((c) => c.status)).toEqual([429, 200]);
    // The retry waited out Retry-After (1 s), by the emulator's clock.
    expect((calls[1]?.at ?? 0) - (calls[0]?.at ?? 0)).toBeGreaterThanOrEqual(1000);
    const reply = slack.ephemerals.find((e) => e.user === 'U0DAVE');
    expect(`${reply?.text} ${JSON.stringify(reply?.blocks)}`).toMatch(/Open incidents/);
    expect(`${reply?.text} ${JSON.stringify(reply?.blocks)}`).toMatch(/archives\/C0INCIDENT\/p\d+/);
  });

  it('an alert opens its thread in the alert channel; a storm adds a line, not a new thread', async () => {
    const post = (fingerprint: string) =>
      fetch(`${serve.url}/webhooks/alertmanager`, {
        method: 'POST',
        headers: { authorization: 'Bearer am-token', 'content-type': 'application/json' },
        body: JSON.stringify(
          alertmanagerPayload([{ labels: { alertname: 'FdUsageHigh', instance: `127.0.0.1:${lab.port + 1}` }, startsAt: '2026-11-25T06:00:00Z', fingerprint }], { groupKey: 'g' }),
        ),
      });
    expect((await post('storm-1')).status).toBe(200);
    await until('the alert thread', () => slack.messages(ALERTS).length >= 2, 5000);
    const root = slack.messages(ALERTS).find((m) => !m.thread_ts);
    expect(root?.text).toMatch(/FdUsageHigh on lab-1:\d+ — incident inc-/);
    expect((await post('storm-2')).status).toBe(200);
    expect((await post('storm-2')).status).toBe(200);
    await until('the storm line', () => slack.messages(ALERTS).some((m) => /Another alert joined/.test(m.text)), 5000);
    expect(slack.messages(ALERTS).filter((m) => !m.thread_ts)).toHaveLength(1);
    expect(slack.messages(ALERTS).filter((m) => /Another alert joined/.test(m.text))).toHaveLength(1);
  });
});
