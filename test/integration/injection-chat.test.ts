// Injection corpus through Slack (issue 7): every hostile input as a mention and as a slash
// command gets a private reply naming the problem, and nothing runs for it; the only command lines
// that reach the SSH user's (logging) shell are the runbook's, from two real investigations.
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Incident } from '../../src/core/incident.js';
import { HOSTILE_CATEGORIES, shellWords, type HostileInput } from '../helpers/hostile-corpus.js';
import { sendButtonClick, sendCommand, sendEvent } from '../helpers/slack-signing.js';
import { BOT_USER, mapLimit, oddConfiguredLogPaths, SIGNING_SECRET, startRig, unexpectedCommands, until, type Rig } from '../fixtures/hostile/rig.js';

const CHANNEL = 'C0INJCHAT1';
/** Slack's own limit on a message's text: longer inputs cannot arrive through Slack. */
const SLACK_MAX_TEXT = 40_000;
/** What a refusal says: parseCommand's and resolveTarget's reasons. */
const REASON = /too long|unknown command|needs a target|unexpected|is empty|not an IPv6 address|has no port|not a host name|not a port|out of range|not in the inventory/;
/** Slack markup that would notify, mention or link: the bot must never send it unescaped. */
const RAW_MARKUP = /<[!@#]|<(?:https?|mailto):/;

let rig: Rig;
let ts = 1764070000;
const nextTs = () => `${++ts}.000200`;
const textOf = (m: { text: string; blocks?: unknown[] }) => `${m.text}\n${JSON.stringify(m.blocks ?? [])}`;
const inThread = (threadTs: string) => rig.slack.messages(CHANNEL).filter((m) => m.thread_ts === threadTs || m.ts === threadTs);
const context = () => `calls: ${rig.slack.calls.slice(-20).map((c) => `${c.method}:${c.status}`).join(' ')}\nserve: ${rig.serve.output().slice(-1500)}\nworker: ${rig.worker.output().slice(-1500)}`;
/** A Slack user id per input, so each reply can be matched to what was sent. */
const userFor = (prefix: string, i: number) => `U0${prefix}${i.toString(36).toUpperCase().padStart(4, '0')}`;

async function incidentFor(target: string): Promise<Incident | undefined> {
  return (await rig.store.list({ limit: 500 })).find((i) => i.target === target);
}

beforeAll(async () => {
  rig = await startRig('chat');
}, 90_000);

afterAll(async () => {
  await rig?.stop();
});

describe('injection through Slack: mentions, slash commands and buttons', () => {
  it('the corpus: at least 200 distinct inputs over every category, deterministic', () => {
    const values = rig.corpus.map((c) => c.value);
    expect(new Set(values).size).toBe(values.length);
    expect(values.length).toBeGreaterThanOrEqual(200);
    for (const cat of HOSTILE_CATEGORIES) expect(rig.corpus.filter((c) => c.category === cat).length, cat).toBeGreaterThanOrEqual(5);
    expect(values.some((v) => v.length >= 1024 * 1024)).toBe(true);
    expect(values.some((v) => v.length >= 10 * 1024 && v.length < 20 * 1024)).toBe(true);
    expect(values.filter((v) => v.includes(rig.canary)).length).toBeGreaterThanOrEqual(50);
  });

  it('a real mention investigates lab-1 over SSH; the configured odd log paths arrive as single arguments', { timeout: 90_000 }, async () => {
    const mention = nextTs();
    await sendEvent(rig.events, SIGNING_SECRET, { type: 'app_mention', user: 'U0ALICE', text: `<@${BOT_USER}> connreset lab-1:${rig.port}`, ts: mention, channel: CHANNEL, event_ts: mention });
    // Whatever it finds on a loaded machine: the point is what ran, not the verdict.
    await until('the diagnosis of lab-1', () => inThread(mention).some((m) => /Diagnosis:/.test(textOf(m))), 60_000, context);
    const report = await until('the stored report', async () => (await incidentFor(`lab-1:${rig.port}`))?.report, 10_000, context);
    expect(report.target.via).toBe('ssh');
    const files = report.facts.logs?.files ?? [];
    const access = files.find((f) => f.path === `${rig.logDir}/access.log`);
    expect(access?.tail.length, 'the access log in the odd directory was read').toBeGreaterThan(0);
    // Every odd path reached the shell as one argument, quoted; none was interpreted.
    const argvs = rig.sshd.commands().map((l) => shellWords(l));
    for (const p of [`${rig.logDir}/access.log`, ...oddConfiguredLogPaths(rig.canary)]) {
      expect(argvs.some((a) => a?.[4] === 'tail' && a.includes(p)), p).toBe(true);
    }
    expect(existsSync(rig.canary)).toBe(false);
  });

  it('a real slash command investigates lab-2; the logs found among its open files arrive quoted', { timeout: 90_000 }, async () => {
    const before = rig.slack.messages(CHANNEL).length;
    const r = await sendCommand(rig.events, SIGNING_SECRET, { command: '/triage', text: `connreset lab-2:${rig.port}`, user_id: 'U0BOB', channel_id: CHANNEL });
    expect(r.status).toBe(200);
    const root = await until('the incident thread', () => rig.slack.messages(CHANNEL).slice(before).find((m) => !m.thread_ts && /lab-2/.test(m.text)), 10_000, context);
    await until('the diagnosis of lab-2', () => inThread(root.ts).some((m) => /Diagnosis:/.test(textOf(m))), 60_000, context);
    const report = await until('the stored report', async () => (await incidentFor(`lab-2:${rig.port}`))?.report, 10_000, context);
    const found = (report.facts.logs?.files ?? []).map((f) => f.path).sort();
    expect(found).toEqual(['access.log', 'app.log', 'error.log'].map((f) => `${rig.logDir}/${f}`));
    const argvs = rig.sshd.commands().map((l) => shellWords(l));
    expect(argvs.some((a) => a?.[4] === 'tail' && a.includes(`${rig.logDir}/app.log`))).toBe(true);
  });

  const refusedEveryone = async (via: 'mention' | 'slash', prefix: string) => {
    const inputs = rig.corpus.filter((c) => c.value.length <= SLACK_MAX_TEXT);
    expect(inputs.length).toBeGreaterThanOrEqual(200);
    const commandsBefore = rig.sshd.commands().length;
    const incidentsBefore = (await rig.store.list({ limit: 500 })).length;
    const channelBefore = rig.slack.messages(CHANNEL).length;
    const sent = new Map<string, { input: HostileInput; ts: string }>();
    const t0 = Date.now();
    await mapLimit(inputs, 8, async (input, i) => {
      const user = userFor(prefix, i);
      const at = nextTs();
      sent.set(user, { input, ts: at });
      const res =
        via === 'mention'
          ? await sendEvent(rig.events, SIGNING_SECRET, { type: 'app_mention', user, text: `<@${BOT_USER}> connreset ${input.value}`, ts: at, channel: CHANNEL, event_ts: at })
          : await sendCommand(rig.events, SIGNING_SECRET, { command: '/triage', text: `connreset ${input.value}`, user_id: user, channel_id: CHANNEL });
      expect(res.status, input.id).toBe(200);
    });
    const replies = (user: string) => rig.slack.ephemerals.filter((e) => e.user === user);
    await until(`a reply to each of ${sent.size} ${via}s`, () => [...sent.keys()].every((u) => replies(u).length > 0), 60_000, () => `missing: ${[...sent].filter(([u]) => replies(u).length === 0).map(([, s]) => s.input.id).slice(0, 10).join(', ')}\n${context()}`);
    const elapsed = Date.now() - t0;
    const unclear: string[] = [];
    for (const [user, { input, ts: at }] of sent) {
      const got = replies(user);
      const text = got.map((e) => textOf(e)).join('\n');
      if (got.length !== 1 || !REASON.test(text) || !/Usage/.test(text)) unclear.push(`${input.id} ${JSON.stringify(input.value.slice(0, 60))}: ${JSON.stringify(text.slice(0, 200))}`);
      if (RAW_MARKUP.test(text)) unclear.push(`${input.id}: raw Slack markup in the reply: ${JSON.stringify(text.slice(0, 200))}`);
      if (via === 'mention' && inThread(at).length > 0) unclear.push(`${input.id}: a message in its thread`);
    }
    expect(unclear).toEqual([]);
    // Nothing was opened, posted or run for any of them.
    expect(rig.slack.messages(CHANNEL).length).toBe(channelBefore);
    expect((await rig.store.list({ limit: 500 })).length).toBe(incidentsBefore);
    expect(rig.slack.violations).toEqual([]);
    await new Promise((r) => setTimeout(r, 300));
    expect(rig.sshd.commands().length).toBe(commandsBefore);
    console.log(`injection-chat: ${sent.size} hostile ${via}s refused in ${elapsed} ms`);
  };

  it('every hostile mention gets a private reply naming the problem, and nothing runs', () => refusedEveryone('mention', 'M'), 90_000);

  it('every hostile slash command gets a private reply naming the problem, and nothing runs', () => refusedEveryone('slash', 'S'), 90_000);

  it('hostile Approve/Deny button values: "unknown approval", privately, and nothing runs', async () => {
    // A button's value is at most 2,000 characters in Slack.
    const inputs = rig.corpus.filter((c) => c.value.length <= 2000);
    expect(inputs.length).toBeGreaterThanOrEqual(200);
    const commandsBefore = rig.sshd.commands().length;
    const users = await mapLimit(inputs, 8, async (input, i) => {
      const user = userFor('K', i);
      const messageTs = nextTs();
      const res = await sendButtonClick(rig.events, SIGNING_SECRET, { user, channel: CHANNEL, messageTs, responseUrl: rig.slack.responseUrl(), actionId: i % 2 ? 'triage_approve' : 'triage_deny', value: input.value });
      expect(res.status, input.id).toBe(200);
      return user;
    });
    const replies = (user: string) => rig.slack.ephemerals.filter((e) => e.user === user);
    await until('a reply to each click', () => users.every((u) => replies(u).length > 0), 60_000, context);
    const unclear = users.flatMap((u, i) => (replies(u).length === 1 && /unknown or too old/.test(replies(u)[0]?.text ?? '') ? [] : [`${inputs[i]?.id}: ${JSON.stringify(replies(u).map((e) => e.text))}`]));
    expect(unclear).toEqual([]);
    await new Promise((r) => setTimeout(r, 300));
    expect(rig.sshd.commands().length).toBe(commandsBefore);
  }, 90_000);

  it('only the runbook\'s command templates ever reached the shell, and the canary was never created', () => {
    const lines = rig.sshd.commands();
    expect(lines.length).toBeGreaterThan(10);
    expect(unexpectedCommands(rig)).toEqual([]);
    expect(lines.some((l) => /(^|\s)kill(\s|$)/.test(l))).toBe(false);
    expect(existsSync(rig.canary)).toBe(false);
    console.log(`injection-chat: ${lines.length} command lines reached the shell, all from the templates`);
  });
});
