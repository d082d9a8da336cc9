import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Approval, Incident } from '../../src/core/incident.js';
import type { RedisIncidentStore } from '../../src/integrations/store/redis.js';
import type { LabHandle } from '../../src/lab/lab.js';
import { startBotRig, until as poll, type BotRig } from '../helpers/bot-rig.js';
import type { SlackEmulator } from '../helpers/slack-emulator.js';
import { sendButtonClick, sendEvent } from '../helpers/slack-signing.js';
import { TEST_USER } from '../helpers/sshd.js';
import { alertmanagerPayload } from '../helpers/alertmanager.js';
import type { ServeProcess } from '../helpers/triage-service.js';
import { execFile } from 'node:child_process';

const SECRET = 'approvals-signing-secret';
const CHANNEL = 'C0ONCALL01';
const APPROVER = 'U0APPROVER';
const REQUESTER = 'U0ALICE';
const ALERTS = 'C0ALERTS02';

let rig: BotRig;
let slack: SlackEmulator;
let lab: LabHandle;
let serve: ServeProcess;
let store: RedisIncidentStore;
let configPath: string;
let events: string;
let ts = 1764060000;
const nextTs = () => `${++ts}.000100`;

const inThread = (threadTs: string) => slack.messages(CHANNEL).filter((m) => m.thread_ts === threadTs);
const textOf = (m: { text: string; blocks?: unknown[] }) => `${m.text}\n${JSON.stringify(m.blocks ?? [])}`;

const until = <T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs: number) => poll(what, fn, timeoutMs, () => rig?.logs() ?? '');

function click(user: string, hash: string, messageTs: string, approve = true) {
  return sendButtonClick(events, SECRET, { user, channel: CHANNEL, messageTs, responseUrl: slack.responseUrl(), actionId: approve ? 'triage_approve' : 'triage_deny', value: hash });
}

const repliesTo = (user: string) => slack.ephemerals.filter((e) => e.user === user).map((e) => e.text);

beforeAll(async () => {
  rig = await startBotRig({
    name: 'approvals',
    lab: { scenario: 'db-pool', supervise: true },
    signingSecret: SECRET,
    config: ({ port }) => ({
      // The SSH user runs the lab, so it may kill it; the lab's supervisor starts it again.
      services: { checkout: { port, instances: ['lab-1'], actions: { restart: ['kill', '{pid}'], quarantine: ['false'] } } },
      server: { apiToken: 'api-token-for-tests' },
      slack: { alertChannel: ALERTS },
      webhooks: { alertmanager: { auth: { type: 'bearer', token: 'am-token' } } },
      routes: [{ match: { alertname: 'FdUsageHigh' }, runbook: 'connreset' }],
      approvals: { approvers: [APPROVER, REQUESTER], approverGroups: ['S0ONCALL'], twoPersonRule: true, ttlMinutes: 15, sweepIntervalMs: 300 },
      safety: { restartsPerHour: 2 },
      recovery: { timeoutMs: 20_000, intervalMs: 200, probes: 3 },
      investigation: { probePath: '/xx/checkalive', probeAttempts: 10, intervalMs: 1000 },
    }),
  });
  ({ slack, lab, serve, store, configPath, events } = rig);
  await lab.waitForFailure(45_000);
}, 120_000);

afterAll(async () => {
  await rig?.stop();
});

describe('stop the loss safely: approval, evidence, restart, recovery, postmortem', () => {
  let incident: Incident;
  let approval: Approval;
  let mention: string;

  it('--dry-run prints exactly the command that would run, over SSH, and runs nothing; without it nothing runs', async () => {
    const cli = (args: string[]) =>
      new Promise<{ code: number; out: string; err: string }>((resolve) =>
        execFile(process.execPath, [join(import.meta.dirname, '../../dist/cli.js'), ...args], (e, out, err) => resolve({ code: e ? ((e as { code?: number }).code ?? 1) : 0, out, err })),
      );
    const pid = lab.pid;
    const dry = await cli(['action', '--kind', 'restart', `lab-1:${lab.port}`, '--config', configPath, '--dry-run']);
    expect(dry.code, dry.err).toBe(0);
    expect(dry.out).toBe(`dry run: on lab-1 (127.0.0.1) over SSH as ${TEST_USER} would run:\n  restart checkout on lab-1:${lab.port}: kill ${pid}\n`);
    const wet = await cli(['action', '--kind', 'restart', `lab-1:${lab.port}`, '--config', configPath]);
    expect(wet.code).toBe(2);
    expect(wet.err).toMatch(/only after a human approves them/);
    expect(lab.pid).toBe(pid);
  });

  it('proposes the restart with Approve/Deny after the diagnosis; refuses non-approvers, self-approval and foreign messages', async () => {
    mention = nextTs();
    await sendEvent(events, SECRET, { type: 'app_mention', user: REQUESTER, text: `<@U0TRIAGE> connreset lab-1:${lab.port}`, ts: mention, channel: CHANNEL });
    const msg = await until('the approval message', () => inThread(mention).find((m) => textOf(m).includes('triage_approve')), 60_000);
    expect(textOf(msg)).toMatch(/Approve restart checkout on lab-1:\d+\?/);
    expect(textOf(msg)).toMatch(/kill \d+/);
    expect(textOf(msg)).toMatch(/Blast radius: 1 of 1 instances of checkout/);
    const hash = /"value":"([0-9a-f]{32})"/.exec(JSON.stringify(msg.blocks))?.[1] ?? '';
    approval = (await store.getApproval(hash)) as Approval;
    expect(approval).toMatchObject({ status: 'pending', requestedBy: REQUESTER, message: { channel: CHANNEL, ts: msg.ts } });
    incident = (await store.get(approval.incidentId)) as Incident;

    await click('U0MALLORY', hash, msg.ts);
    await until('the refusal', () => repliesTo('U0MALLORY').some((t) => /not an approver/.test(t)), 5000);
    await click(REQUESTER, hash, msg.ts);
    await until('the two-person refusal', () => repliesTo(REQUESTER).some((t) => /two-person rule/.test(t)), 5000);
    await click(APPROVER, hash, mention);
    await until('the foreign-message refusal', () => repliesTo(APPROVER).some((t) => /not on this approval's message/.test(t)), 5000);
    expect((await store.getApproval(hash))?.status).toBe('pending');
  });

  it('an approver\'s click (twice) runs it once: evidence kept, restart, recovery verified, incident mitigated', async () => {
    const pidBefore = lab.pid;
    const msgTs = approval.message?.ts ?? '';
    await Promise.all([click(APPROVER, approval.hash, msgTs), click(APPROVER, approval.hash, msgTs)]);
    await until('the outcome in the thread', () => inThread(mention).some((m) => /recovery verified|has not recovered/.test(m.text)), 60_000);
    const replies = repliesTo(APPROVER);
    expect(replies.filter((t) => /Approved: running it now/.test(t))).toHaveLength(1);
    expect(replies.some((t) => /Already decided: (approved|running|done) by U0APPROVER/.test(t))).toBe(true);
    expect(lab.pid).not.toBe(pidBefore);
    expect(inThread(mention).some((m) => /recovery verified/.test(m.text))).toBe(true);
    expect(slack.files.some((f) => /^forensics-\d+-/.test(f.filename) && f.thread_ts === mention && /CLOSE-WAIT/.test(f.content))).toBe(true);
    const after = await store.get(incident.id);
    expect(after?.status).toBe('mitigated');
    const tl = (await store.timeline(incident.id)).map((e) => e.type);
    for (const t of ['approval-requested', 'approval-refused', 'approval-given', 'snapshot-taken', 'action-started', 'action-finished', 'recovery-verified', 'mitigated']) expect(tl, t).toContain(t);
    expect(tl.filter((t) => t === 'action-started')).toHaveLength(1);
    const decided = slack.messages(CHANNEL).find((m) => m.ts === msgTs);
    expect(textOf(decided ?? { text: '' })).toMatch(/done by <@U0APPROVER>/);
    expect(textOf(decided ?? { text: '' })).not.toMatch(/triage_approve/);

    // The snapshot is kept with the incident too, not only in Slack.
    const kept = await store.listArtifacts(incident.id);
    expect(kept.some((n) => /^forensics-\d+-/.test(n))).toBe(true);
    const snapshot = await new Promise<string>((resolve) =>
      execFile(process.execPath, [join(import.meta.dirname, '../../dist/cli.js'), 'incident', incident.id, '--config', configPath, '--artifact', kept[0] ?? ''], (_e, out) => resolve(out)),
    );
    expect(snapshot).toMatch(/CLOSE-WAIT/);
    expect(snapshot).toMatch(/Max open files/);

    const md = await new Promise<string>((resolve) => execFile(process.execPath, [join(import.meta.dirname, '../../dist/cli.js'), 'postmortem', incident.id, '--config', configPath], (_e, out) => resolve(out)));
    expect(md).toMatch(/U0APPROVER/);
    expect(md).toMatch(/restart/);
  });

  it('drafts the postmortem in the thread, and over HTTP with a token', async () => {
    await sendEvent(events, SECRET, { type: 'app_mention', user: REQUESTER, text: '<@U0TRIAGE> postmortem', ts: nextTs(), thread_ts: mention, channel: CHANNEL });
    const file = await until('the postmortem file', () => slack.files.find((f) => f.filename === `postmortem-${incident.id}.md`), 10_000);
    expect(file.thread_ts).toBe(mention);
    expect(file.content).toMatch(/^# Postmortem: connection reset by peer on checkout/);
    expect(file.content).toMatch(/## Timeline/);
    expect(file.content).toMatch(/U0APPROVER/);
    const url = `${serve.url}/incidents/${incident.id}/postmortem.md`;
    expect((await fetch(url)).status).toBe(401);
    const ok = await fetch(url, { headers: { authorization: 'Bearer api-token-for-tests' } });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toMatch(/## Root cause/);
  });

  it('refuses an expired approval, and reports a failing command as not mitigated', async () => {
    const thread = incident.thread as NonNullable<Incident['thread']>;
    const base = { incidentId: incident.id, requestedBy: REQUESTER, requestedAt: new Date().toISOString(), status: 'pending' as const };
    const expired: Approval = { ...base, hash: 'e'.repeat(32), action: { kind: 'quarantine', service: 'checkout', host: 'lab-1', address: '127.0.0.1', port: lab.port, argv: ['false'] }, expiresAt: new Date(Date.now() - 1000).toISOString(), message: { channel: CHANNEL, ts: thread.ts } };
    await store.putApproval(expired);
    await click(APPROVER, expired.hash, thread.ts);
    await until('the expiry', () => repliesTo(APPROVER).some((t) => /expired/.test(t)), 5000);
    expect((await store.getApproval(expired.hash))?.status).toBe('expired');

    // Nobody clicks: the sweep takes the buttons away and says it expired. (It edits the message of
    // the first approval, which exists in the emulator, so the edit can be seen.)
    const silent: Approval = { ...expired, hash: 'd'.repeat(32), message: { channel: CHANNEL, ts: approval.message?.ts ?? '' } };
    await store.putApproval(silent);
    await until('the sweep to expire it', async () => (await store.getApproval(silent.hash))?.status === 'expired', 10_000);
    expect((await store.timeline(incident.id)).some((e) => e.type === 'approval-expired' && e.data?.hash === silent.hash)).toBe(true);
    expect(textOf(slack.messages(CHANNEL).find((m) => m.ts === approval.message?.ts) ?? { text: '' })).toMatch(/expired/);

    // A restart whose command fails: evidence still kept first, then reported, not mitigated.
    const failing: Approval = { ...expired, hash: 'f'.repeat(32), action: { ...expired.action, kind: 'restart', argv: ['false'] }, expiresAt: new Date(Date.now() + 600_000).toISOString() };
    await store.putApproval(failing);
    await click(APPROVER, failing.hash, thread.ts);
    await until('the failure report', () => inThread(thread.ts).some((m) => /restart failed \(exit 1\).*not mitigated/.test(m.text)), 30_000);
    expect((await store.getApproval(failing.hash))?.status).toBe('failed');
    const tl = await store.timeline(incident.id);
    expect(tl.filter((e) => e.type === 'snapshot-taken')).toHaveLength(2);
    expect(tl.filter((e) => e.type === 'action-finished').map((e) => e.data?.exitCode)).toContain(1);

    // A member of an approver user group may approve too.
    slack.setUsergroup('S0ONCALL', ['U0GROUPIE']);
    const grouped: Approval = { ...failing, hash: 'a'.repeat(32), action: { ...failing.action, argv: ['true'] } };
    await store.putApproval(grouped);
    await click('U0GROUPIE', grouped.hash, thread.ts);
    // It runs (the second restart of the hour); whether the still-overloaded lab recovers does not matter here.
    await until('the group member\'s approval to run', async () => ['done', 'failed'].includes((await store.getApproval(grouped.hash))?.status ?? ''), 40_000);
    expect((await store.getApproval(grouped.hash))?.decidedBy).toBe('U0GROUPIE');
  });

  it('from an alert: its own thread, the diagnosis, the plan — the restart refused once the hourly budget is used — and the postmortem', async () => {
    await store.update(incident.id, { status: 'resolved' });
    await lab.waitForFailure(45_000);
    const res = await fetch(`${serve.url}/webhooks/alertmanager`, {
      method: 'POST',
      headers: { authorization: 'Bearer am-token', 'content-type': 'application/json' },
      body: JSON.stringify(
        alertmanagerPayload([{ labels: { alertname: 'FdUsageHigh', instance: `127.0.0.1:${lab.port}` }, startsAt: new Date().toISOString(), fingerprint: 'budget-1' }], { groupKey: 'g' }),
      ),
    });
    expect(res.status).toBe(200);
    const { incidents } = (await res.json()) as { incidents: { id: string; created: boolean }[] };
    expect(incidents[0]?.created).toBe(true);
    const root = await until('the alert thread', () => slack.messages(ALERTS).find((m) => !m.thread_ts), 10_000);
    const inAlerts = () => slack.messages(ALERTS).filter((m) => m.thread_ts === root.ts);
    await until('the budget refusal', () => inAlerts().some((m) => /Not proposing restart on lab-1: restart budget of 2 per hour for checkout is used up/.test(m.text)), 60_000);
    expect(inAlerts().some((m) => textOf(m).includes('db-pool-saturation'))).toBe(true);
    expect(inAlerts().some((m) => textOf(m).includes('triage_approve'))).toBe(false);
    const md = await (await fetch(`${serve.url}/incidents/${incidents[0]?.id}/postmortem.md`, { headers: { authorization: 'Bearer api-token-for-tests' } })).text();
    expect(md).toMatch(/FdUsageHigh/);
    expect(md).toMatch(/restart budget of 2 per hour/);
  });

  it('triage shell: the same flow as prompts — propose, approve at the terminal, snapshot, restart, verify', async () => {
    const { readFileSync } = await import('node:fs');
    const { spawn } = await import('node:child_process');
    const shellConfig = configPath.replace('.yaml', '-shell.yaml');
    writeFileSync(shellConfig, readFileSync(configPath, 'utf8').replace('twoPersonRule: true', 'twoPersonRule: false'));
    await lab.waitForFailure(45_000);
    const pid = lab.pid;
    const child = spawn(process.execPath, [join(import.meta.dirname, '../../dist/cli.js'), 'shell', '--config', shellConfig], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const exit = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    child.stdin.write(`@triage connreset lab-1:${lab.port}\napprove\n`);
    child.stdin.end();
    const code = await Promise.race([exit, new Promise<string>((r) => setTimeout(() => r('hung'), 90_000))]);
    expect(code, out).toBe(0);
    expect(out).toMatch(/Approve restart checkout on lab-1:\d+\?/);
    expect(out).toMatch(/command \(dry run\): kill \d+/);
    expect(out).toMatch(/Approved: running it now/);
    expect(out).toMatch(/\[file forensics-\d+-/);
    expect(out).toMatch(/recovery verified/);
    expect(lab.pid).not.toBe(pid);
  });
});
