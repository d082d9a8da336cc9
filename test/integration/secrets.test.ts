// Secrets (issue 7): AWS keys, bearer tokens, passwords in DSNs and `password=` pairs, in the lab
// service's logs and on its command line, never leave the bot unredacted — not in Slack messages
// or uploaded files (findings, the forensic snapshot, the postmortem), not in the postmortem
// (Markdown and JSON), not in the JSON report (`triage investigate --json`, and the one stored
// with the incident).

import { execFile } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Approval, Incident } from '../../src/core/incident.js';
import type { RedisIncidentStore } from '../../src/integrations/store/redis.js';
import type { LabHandle } from '../../src/lab/lab.js';
import { startBotRig, until as poll, type BotRig } from '../helpers/bot-rig.js';
import type { SlackEmulator } from '../helpers/slack-emulator.js';
import { sendButtonClick, sendEvent } from '../helpers/slack-signing.js';
import { CLI, type ServeProcess, type WorkerProcess } from '../helpers/triage-service.js';

const SIGNING = 'secrets-signing-secret';
const CHANNEL = 'C0SECRETS1';
const APPROVER = 'U0APPROVER';
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';

/** What must never be seen again once it is in a log line or a command line. */
const SECRETS = {
  awsKeyId: 'AKIAZ7TRIAGETESTKEY1',
  awsSecret: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYTRIAGEKEY1',
  bearer: 'eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXRyaWFnZQ.sigTRIAGE',
  dsnPassword: 'hunter2',
  password: 'Tr1ageS3cret!',
  jsonPassword: 's3cr3t-json',
  cmdlinePassword: 'cmdl1neHunter',
};
// Distinctive parts: a secret cut in half must not survive either.
const NEEDLES = ['Z7TRIAGETESTKEY1', 'wJalrXUtnFEMI', 'bPxRfiCYTRIAGEKEY1', 'c2VjcmV0LXRyaWFnZQ', 'sigTRIAGE', 'hunter2', 'Tr1ageS3cret', 's3cr3t-json', 'cmdl1neHunter'];

/** Log lines as services write them; each matches an error signature, so it is evidence the bot shows. */
const LINES = [
  `accept4: too many open files calling https://api.example.net/v1 with Authorization: Bearer ${SECRETS.bearer}`,
  `db pool: timed out acquiring a connection to postgres://app:${SECRETS.dsnPassword}@db.internal:5432/orders`,
  `config reload failed (too many open files): aws_access_key_id=${SECRETS.awsKeyId} aws_secret_access_key=${SECRETS.awsSecret}`,
  `env dump on EMFILE: AWS_ACCESS_KEY_ID=${SECRETS.awsKeyId} AWS_SECRET_ACCESS_KEY=${SECRETS.awsSecret}`,
  `login retry for user=svc password=${SECRETS.password} failed: too many open files`,
  `{"level":"error","msg":"too many open files","user":"svc","password":"${SECRETS.jsonPassword}"}`,
];

let rig: BotRig;
let slack: SlackEmulator;
let lab: LabHandle;
let serve: ServeProcess;
let worker: WorkerProcess;
let store: RedisIncidentStore;
let configPath: string;
let events: string;

const until = <T>(what: string, fn: () => T | undefined | null | false | Promise<T | undefined | null | false>, timeoutMs: number) => poll(what, fn, timeoutMs, () => rig?.logs() ?? '');

const cli = (args: string[]) =>
  new Promise<{ code: number; out: string; err: string }>((resolve) =>
    execFile(process.execPath, [CLI, ...args, '--config', configPath], { maxBuffer: 64 * 1024 * 1024, timeout: 90_000 }, (e, out, err) => resolve({ code: e ? ((e as { code?: number }).code ?? 1) : 0, out, err })),
  );

/** Fails with the sink's name and the secret's context when any needle is in `text`. */
function expectClean(sink: string, text: string): void {
  const found = NEEDLES.filter((n) => text.includes(n)).map((n) => {
    const at = text.indexOf(n);
    return `${n} in …${text.slice(Math.max(0, at - 80), at + n.length + 20)}…`;
  });
  expect(found, `secrets in ${sink}`).toEqual([]);
}

/** The test would pass vacuously if the lines never arrived: they did, redacted. */
function expectRedactedEvidence(sink: string, text: string): void {
  expect(text, `${sink} shows the log lines`).toMatch(/api\.example\.net|db\.internal:5432\/orders|aws_secret_access_key/);
  expect(text, `${sink} redacted them`).toContain('[REDACTED]');
}

beforeAll(async () => {
  // The service's command line carries a DSN with a password, as real ones do (PostgreSQL here trusts local connections).
  const dsn = new URL(DATABASE_URL);
  dsn.password = SECRETS.cmdlinePassword;
  if (!dsn.username) dsn.username = 'postgres';
  rig = await startBotRig({
    name: 'secrets',
    lab: { scenario: 'healthy', databaseUrl: dsn.toString() },
    signingSecret: SIGNING,
    config: () => ({
      server: { apiToken: 'secrets-api-token' },
      approvals: { approvers: [APPROVER], ttlMinutes: 30 },
      recovery: { timeoutMs: 15_000, intervalMs: 200, probes: 2 },
      investigation: { probePath: '/', probeAttempts: 3, intervalMs: 500 },
    }),
  });
  ({ slack, lab, serve, worker, store, configPath, events } = rig);
  await lab.waitReady(30_000).catch((err: Error) => {
    throw new Error(`the lab did not start with a PostgreSQL pool at ${DATABASE_URL} (start PostgreSQL, or set DATABASE_URL): ${err.message}`);
  });
  // Into the files the service has open (it appends; so do we), at their end where tails read.
  for (const name of ['error.log', 'app.log']) appendFileSync(join(lab.logDir, name), `${LINES.join('\n')}\n`);
}, 120_000);

afterAll(async () => {
  await rig?.stop();
});

describe('secrets in logs and command lines are redacted wherever the bot writes', () => {
  let incident: Incident;
  const thread = '1764080000.000100';
  /** An approval asked for in the thread, as the worker proposes it, for an approver to click. */
  const pendingApproval = (digit: string, kind: Approval['action']['kind'], argv: string[]): Approval => ({
    hash: digit.repeat(32),
    incidentId: incident.id,
    action: { kind, service: 'checkout', host: 'lab-1', address: '127.0.0.1', port: lab.port, argv },
    requestedBy: 'U0ALICE',
    requestedAt: new Date().toISOString(),
    expiresAt: new Date(Date.now() + 600_000).toISOString(),
    status: 'pending',
    message: { channel: CHANNEL, ts: thread },
  });

  it('Slack: the findings, the diagnosis and the uploaded evidence', async () => {
    await sendEvent(events, SIGNING, { type: 'app_mention', user: 'U0ALICE', text: `<@U0TRIAGE> connreset lab-1:${lab.port}`, ts: thread, channel: CHANNEL });
    incident = await until('the diagnosis', async () => {
      const i = (await store.list({ limit: 10 })).find((x) => x.thread?.ts === thread);
      return i?.status === 'diagnosed' && slack.messages(CHANNEL).some((m) => m.thread_ts === thread && `${m.text}${JSON.stringify(m.blocks ?? [])}`.includes('Diagnosis: connreset')) ? i : null;
    }, 90_000);
    const messages = slack.messages(CHANNEL).filter((m) => m.thread_ts === thread).map((m) => `${m.text}\n${JSON.stringify(m.blocks ?? [])}`).join('\n');
    expectRedactedEvidence('the thread', messages);
    expectClean('Slack messages', messages);
    expectClean('every Slack API call', JSON.stringify(slack.calls));
    expectClean('uploaded files', JSON.stringify(slack.files));
    expect(incident.report?.facts.process?.command).toContain('--database-url');
  }, 150_000);

  it('the forensic snapshot before an approved restart: uploaded, kept with the incident, both redacted', async () => {
    const approval = pendingApproval('5', 'restart', ['true']);
    await store.putApproval(approval);
    const res = await sendButtonClick(events, SIGNING, { user: APPROVER, channel: CHANNEL, messageTs: thread, responseUrl: slack.responseUrl(), actionId: 'triage_approve', value: approval.hash });
    expect(res.status).toBe(200);
    const file = await until('the snapshot upload', () => slack.files.find((f) => /^forensics-\d+-/.test(f.filename)), 60_000);
    expectRedactedEvidence('the uploaded snapshot', file.content);
    expectClean('the uploaded snapshot', file.content);
    await until('the action to finish', async () => ['done', 'failed'].includes((await store.getApproval(approval.hash))?.status ?? ''), 60_000);
    const kept = await store.listArtifacts(incident.id);
    expect(kept).toContain(file.filename);
    const shown = await cli(['incident', incident.id, '--artifact', file.filename]);
    expect(shown.code, shown.err).toBe(0);
    expectRedactedEvidence('the kept snapshot', shown.out);
    expectClean('the kept snapshot', shown.out);
  }, 150_000);

  it('a credential in an action\'s command (an LB API token) is not shown in the channel', async () => {
    const token = 'lbTRIAGEtoken0123456789abcdef';
    const approval = pendingApproval('6', 'quarantine', ['curl', '-sf', '-X', 'POST', '-H', `Authorization: Bearer ${token}`, 'http://127.0.0.1:9/drain/lab-1']);
    await store.putApproval(approval);
    const before = slack.calls.length;
    const res = await sendButtonClick(events, SIGNING, { user: APPROVER, channel: CHANNEL, messageTs: thread, responseUrl: slack.responseUrl(), actionId: 'triage_approve', value: approval.hash });
    expect(res.status).toBe(200);
    await until('the quarantine to finish', async () => ['done', 'failed'].includes((await store.getApproval(approval.hash))?.status ?? ''), 60_000);
    await until('the decided approval rendered', () => slack.calls.slice(before).filter((c) => c.method === 'chat.update' && JSON.stringify(c.args).includes('quarantine checkout on lab-1')).length >= 2, 20_000);
    const shown = JSON.stringify(slack.calls.slice(before));
    expect(shown).toContain('Authorization: Bearer [REDACTED]');
    expect(shown).not.toContain(token);
  }, 120_000);

  it('the postmortem: uploaded to the thread, as Markdown, as JSON and over HTTP', async () => {
    await sendEvent(events, SIGNING, { type: 'app_mention', user: 'U0ALICE', text: '<@U0TRIAGE> postmortem', ts: '1764080001.000100', thread_ts: thread, channel: CHANNEL });
    const file = await until('the postmortem file', () => slack.files.find((f) => f.filename === `postmortem-${incident.id}.md`), 30_000);
    expectClean('the uploaded postmortem', file.content);
    const md = await cli(['postmortem', incident.id]);
    expect(md.code, md.err).toBe(0);
    expect(md.out).toMatch(/^# Postmortem/);
    expectClean('the postmortem (Markdown)', md.out);
    const json = await cli(['postmortem', incident.id, '--format', 'json']);
    expect(json.code, json.err).toBe(0);
    expect(() => JSON.parse(json.out)).not.toThrow();
    expectClean('the postmortem (JSON)', json.out);
    const http = await fetch(`${serve.url}/incidents/${incident.id}/postmortem.md`, { headers: { authorization: 'Bearer secrets-api-token' } });
    expect(http.status).toBe(200);
    expectClean('the postmortem over HTTP', await http.text());
    expectClean('everything sent to Slack', JSON.stringify({ calls: slack.calls, files: slack.files, ephemerals: slack.ephemerals }));
  }, 120_000);

  it('the JSON reports: stored with the incident, and from `triage investigate --json`', async () => {
    const stored = await cli(['incident', incident.id, '--json']);
    expect(stored.code, stored.err).toBe(0);
    const parsed = JSON.parse(stored.out) as { incident: Incident; timeline: unknown[] };
    expect(parsed.incident.report?.facts.logs?.files.length).toBeGreaterThan(0);
    expectRedactedEvidence('the stored report', stored.out);
    expectClean('the stored incident, report and timeline', stored.out);

    const fresh = await cli(['investigate', 'connreset', `lab-1:${lab.port}`, '--json']);
    expect(fresh.code, fresh.err).toBe(0);
    const report = JSON.parse(fresh.out) as { target: { via: string }; facts: { process?: { command: string } } };
    expect(report.target.via).toBe('ssh');
    expect(report.facts.process?.command).toMatch(/--database-url postgres(ql)?:\/\/postgres:\[REDACTED\]@/);
    expectRedactedEvidence('triage investigate --json', fresh.out);
    expectClean('triage investigate --json', fresh.out);
    expectClean('its stderr', fresh.err);
    // And the bot's own logs.
    expectClean('the worker\'s and the server\'s logs', `${worker.output()}\n${serve.output()}`);
  }, 120_000);
});
