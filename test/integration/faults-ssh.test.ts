// Faults on the SSH side (issue 7), through the whole service — alert → `triage serve` → worker →
// SSH → report → Slack: the connection dropped mid-investigation, sshd down, a command that
// prints 1 GB, binary garbage in the logs. Each time the bot keeps serving, the incident records
// what failed, and nothing accepted is lost. (The executor alone: ssh-executor.test.ts.)

import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Incident } from '../../src/core/incident.js';
import { SshExecutor } from '../../src/integrations/exec/ssh.js';
import type { RedisIncidentStore } from '../../src/integrations/store/redis.js';
import type { LabHandle } from '../../src/lab/lab.js';
import { sshConfig, startBotRig, until as poll, type BotRig } from '../helpers/bot-rig.js';
import type { SlackEmulator } from '../helpers/slack-emulator.js';
import { startSshd, TEST_USER, type Sshd } from '../helpers/sshd.js';
import { alertmanagerPayload } from '../helpers/alertmanager.js';
import { CLI, type ServeProcess, type WorkerProcess } from '../helpers/triage-service.js';

const ALERTS = 'C0FAULTSSH1';
const TOKEN = 'am-faults-token';
const GB = 1_000_000_000;
const MiB = 1024 * 1024;

let rig: BotRig;
let slack: SlackEmulator;
let lab: LabHandle;
let sshd: Sshd;
let flaky: Sshd;
let serve: ServeProcess;
let worker: WorkerProcess;
let store: RedisIncidentStore;
let configPath: string;
let dataDir: string;
let seq = 0;

const until = <T>(what: string, fn: () => T | undefined | null | false | Promise<T | undefined | null | false>, timeoutMs: number) => poll(what, fn, timeoutMs, () => rig?.logs() ?? '');

/** An Alertmanager delivery for `target` (an inventory `host:port`); resolves with the answer. */
async function alert(target: string, status: 'firing' | 'resolved' = 'firing', fingerprint = `fp-${++seq}`) {
  const res = await fetch(`${serve.url}/webhooks/alertmanager`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(
      alertmanagerPayload(
        [{ status, labels: { alertname: 'FdUsageHigh', instance: target }, startsAt: '2026-12-01T10:00:00Z', endsAt: status === 'firing' ? undefined : '2026-12-01T10:05:00Z', fingerprint }],
        { groupKey: `g-${fingerprint}` },
      ),
    ),
  });
  const body = (await res.json()) as { incidents: { id: string; created: boolean }[] };
  return { status: res.status, body, fingerprint };
}

/** A new incident for `target`, from an alert; resolves with its id. */
async function open(target: string): Promise<{ id: string; fingerprint: string }> {
  const a = await alert(target);
  expect(a.status).toBe(200);
  expect(a.body.incidents[0]?.created, `a new incident for ${target}`).toBe(true);
  return { id: a.body.incidents[0]?.id ?? '', fingerprint: a.fingerprint };
}

async function settled(id: string, timeoutMs = 90_000): Promise<Incident> {
  return until(`incident ${id} to be diagnosed or failed`, async () => {
    const i = await store.get(id);
    return i && (i.status === 'diagnosed' || i.status === 'failed') ? i : null;
  }, timeoutMs);
}

const cli = (args: string[]) =>
  new Promise<{ code: number; out: string; err: string }>((resolve) =>
    execFile(process.execPath, [CLI, ...args, '--config', configPath], { maxBuffer: 64 * MiB }, (e, out, err) => resolve({ code: e ? ((e as { code?: number }).code ?? 1) : 0, out, err })),
  );

/** Peak resident set of a process (VmHWM), in bytes. */
function peakRss(pid: number): number {
  const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) * 1024;
}

const threadOf = async (id: string) => (await store.get(id))?.thread;
const inThread = (ts: string) => slack.messages(ALERTS).filter((m) => m.thread_ts === ts);

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'triage-faults-logs-'));
  chmodSync(dataDir, 0o755);
  // 1 GB of NULs and not one newline (sparse: no disk used): `tail -n 200` prints all of it.
  writeFileSync(join(dataDir, 'huge.log'), '');
  truncateSync(join(dataDir, 'huge.log'), GB);
  // Binary garbage: random bytes with NULs, invalid UTF-8, terminal escapes, Slack control
  // sequences, a 300 KB line, no newline at the end, and (in the tail) lines that match an error signature.
  const junk: Buffer[] = [randomBytes(100_000), Buffer.alloc(300_000, 0x41), Buffer.from('\n')];
  for (let i = 0; i < 20; i++) {
    junk.push(randomBytes(200 + (i % 7) * 50), Buffer.from('\n'));
    junk.push(Buffer.from(`accept4: too many open files \u0000\u0007\x1b[31m<!channel> <@U0BOSS> *bold* \`code\` &amp; ${'\u202e'}evil\n`));
    if (i % 5 === 0) junk.push(Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x28, 0xa1, 0x00, 0x0a]));
  }
  junk.push(randomBytes(3000));
  writeFileSync(join(dataDir, 'junk-error.log'), Buffer.concat(junk));
  writeFileSync(join(dataDir, 'junk-access.log'), Buffer.concat([randomBytes(500_000), Buffer.from('\n'), Buffer.alloc(10_000, 0)]));
  execFileSync('mkfifo', [join(dataDir, 'stuck.log')]);
  for (const f of ['huge.log', 'junk-error.log', 'junk-access.log', 'stuck.log']) chmodSync(join(dataDir, f), 0o644);

  // A second sshd for `flaky-1`, so that it can be killed.
  flaky = await startSshd();
  rig = await startBotRig({
    name: 'faults-ssh',
    lab: { scenario: 'healthy' },
    signingSecret: 'faults-ssh-secret',
    config: ({ port, sshd: s }) => ({
      hosts: {
        'lab-1': { address: '127.0.0.1', ssh: sshConfig(s) },
        'flaky-1': { address: '127.0.0.1', ssh: sshConfig(flaky) },
        'huge-1': { address: '127.0.0.1', ssh: sshConfig(s) },
        'junk-1': { address: '127.0.0.1', ssh: sshConfig(s) },
      },
      services: {
        checkout: { port, instances: ['lab-1'] },
        // Its access log is a FIFO nobody writes: `tail` on it waits, so a command is in flight when the connection drops.
        flaky: { port, instances: ['flaky-1'], logs: { access: [join(dataDir, 'stuck.log')], error: [] } },
        huge: { port, instances: ['huge-1'], logs: { access: [join(dataDir, 'huge.log')], error: [] } },
        junk: { port, instances: ['junk-1'], logs: { access: [join(dataDir, 'junk-access.log')], error: [join(dataDir, 'junk-error.log')] } },
      },
      server: { apiToken: 'faults-api-token' },
      webhooks: { alertmanager: { auth: { type: 'bearer', token: TOKEN } } },
      routes: [{ match: { alertname: 'FdUsageHigh' }, runbook: 'connreset' }],
      slack: { alertChannel: ALERTS },
      worker: { concurrency: 2, lockDurationMs: 5000, stalledIntervalMs: 1000, shutdownTimeoutMs: 3000 },
      // Generous deadlines: on a loaded machine the drop must still come before the waiting tail's time-out.
      ssh: { keepaliveIntervalMs: 1000, commandTimeoutMs: 30_000 },
      investigation: { probePath: '/', probeAttempts: 3, intervalMs: 3000, logTailLines: 200, stepTimeoutMs: 45_000 },
    }),
  });
  ({ slack, lab, sshd, serve, worker, store, configPath } = rig);
  await lab.waitReady(30_000);
}, 120_000);

afterAll(async () => {
  await rig?.stop();
  await flaky?.stop();
});

describe('faults over SSH, through the service', () => {
  it('the SSH connection dropped mid-command during an investigation: the report names the failed steps and why; the worker serves on', async () => {
    const inc = await open(`flaky-1:${lab.port}`);
    // The process is found and the logs step's `tail` is waiting on its log: cut every connection
    // to this host's sshd (sshd and its sessions die).
    await until('the first steps over SSH', async () => (await store.timeline(inc.id)).some((e) => e.type === 'step-finished' && e.data?.step === 'process' && e.data?.status === 'ok'), 60_000);
    await until('tail to wait on the log', () => {
      try {
        return execFileSync('pgrep', ['-u', TEST_USER, '-f', `tail -n 200 -- ${dataDir}/stuck.log`], { encoding: 'utf8' }).trim() !== '';
      } catch {
        return false;
      }
    }, 20_000);
    flaky.kill();
    const done = await settled(inc.id);
    expect(done.status).toBe('diagnosed');
    const failed = (done.report?.steps ?? []).filter((s) => s.status === 'failed');
    expect(failed.length, JSON.stringify(done.report?.steps)).toBeGreaterThan(0);
    expect(failed.find((s) => s.id === 'logs')?.error).toMatch(/^tail: SSH connection to flaky-1 dropped mid-command/);
    for (const s of failed) expect(s.error).toMatch(/dropped mid-command|channel closed|cannot connect to 127\.0\.0\.1:\d+|not connected/);
    const tl = await store.timeline(inc.id);
    expect(tl.filter((e) => e.type === 'step-finished' && /failed: /.test(e.message)).length).toBeGreaterThan(0);
    // Its thread says the steps failed too (the progress message lists them).
    const thread = await threadOf(inc.id);
    expect(thread).toBeDefined();
    await until('the progress message to show the failed steps', () => inThread(thread?.ts ?? '').some((m) => /failed/.test(`${m.text}${JSON.stringify(m.blocks ?? [])}`)), 15_000);

    const next = await open(`lab-1:${lab.port}`);
    const ok = await settled(next.id);
    expect(ok.status).toBe('diagnosed');
    expect(ok.report?.steps.filter((s) => s.status === 'failed')).toEqual([]);
  }, 180_000);

  it('sshd down: the incident fails with "cannot connect", the webhook keeps accepting and the worker serves on', async () => {
    // Close the earlier incidents the way Alertmanager does, so new alerts open new ones.
    for (const i of await store.list({ open: true })) await store.update(i.id, { status: 'resolved' });
    const down = await open(`flaky-1:${lab.port}`);
    const meanwhile = await Promise.all([alert(`lab-1:${lab.port}`), alert(`lab-1:${lab.port}`), alert('nowhere-1:1')]);
    expect(meanwhile.map((a) => a.status)).toEqual([200, 200, 200]);
    const failed = await settled(down.id);
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatch(new RegExp(`^flaky-1: cannot connect to 127\\.0\\.0\\.1:${flaky.port}: ECONNREFUSED`));
    expect((await store.timeline(down.id)).some((e) => e.type === 'investigation-failed' && /cannot connect/.test(e.message))).toBe(true);
    const thread = await threadOf(down.id);
    await until('the failure in its thread', () => inThread(thread?.ts ?? '').some((m) => /Investigation failed: flaky-1: cannot connect/.test(m.text)), 20_000);
    // The two lab-1 alerts folded into one incident, which completes.
    const other = meanwhile[0]?.body.incidents[0]?.id ?? '';
    expect(meanwhile[1]?.body.incidents[0]?.id).toBe(other);
    expect((await settled(other)).status).toBe('diagnosed');
    expect((await store.listUnrouted(10)).some((u) => /nowhere-1/.test(u.reason))).toBe(true);
  }, 180_000);

  it('a command that prints 1 GB: capped at 1 MiB and marked truncated, memory bounded, done quickly', async () => {
    const ex = new SshExecutor({ name: 'lab', address: sshd.host, port: sshd.port, user: sshd.user, keyPath: sshd.keyPath, hostKey: { knownHosts: sshd.knownHostsPath } });
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 20);
    const t0 = performance.now();
    try {
      const res = await ex.run(['head', '-c', String(GB), '/dev/zero'], { timeoutMs: 60_000 });
      const ms = performance.now() - t0;
      expect(res.truncated).toBe(true);
      expect(res.stdout.length).toBe(MiB);
      expect(ms).toBeLessThan(20_000);
      console.log(`faults: 1 GB command capped in ${Math.round(ms)} ms, RSS growth ${Math.round((rssPeak - rssBefore) / MiB)} MiB`);
    } finally {
      clearInterval(sampler);
      await ex.close();
    }
    expect(rssPeak - rssBefore).toBeLessThan(200 * MiB);
    // Closing the channel ends the remote command too.
    await until('the remote head to end', () => {
      try {
        execFileSync('pgrep', ['-u', TEST_USER, '-f', `head -c ${GB} /dev/zero`]);
        return false;
      } catch {
        return true;
      }
    }, 20_000);
  }, 180_000);

  it('a 1 GB log without newlines as the service\'s access log: the logs step reads a capped tail, the worker stays small, the incident completes', async () => {
    const t0 = Date.now();
    const inc = await open(`huge-1:${lab.port}`);
    const done = await settled(inc.id, 120_000);
    const ms = Date.now() - t0;
    expect(done.status).toBe('diagnosed');
    const logsStep = done.report?.steps.find((s) => s.id === 'logs');
    expect(logsStep?.status, logsStep?.error).toBe('ok');
    const file = done.report?.facts.logs?.files.find((f) => f.path.endsWith('/huge.log'));
    expect(file?.sizeBytes).toBe(GB);
    // The tail was one enormous line of NULs: it arrived, cut to what a report line may hold.
    expect(file?.tail.some((l) => l.length === 2000 && /^\u0000+$/.test(l))).toBe(true);
    expect(done.report?.findings.find((f) => f.id === 'logs-truncated')?.title).toBe('log tails cut at 4 MiB');
    // One "line" of NULs, cut for the report: nothing like a gigabyte reaches the store.
    expect(JSON.stringify(done.report).length).toBeLessThan(2 * MiB);
    const peak = peakRss(worker.pid);
    console.log(`faults: 1 GB log investigated in ${ms} ms; worker peak RSS ${Math.round(peak / MiB)} MiB`);
    expect(peak).toBeLessThan(400 * MiB);
    expect(ms).toBeLessThan(60_000);
  }, 180_000);

  it('binary garbage in the logs: the logs step finishes, the report is valid JSON, Slack and the postmortem render within limits', async () => {
    const violationsBefore = slack.violations.length;
    const inc = await open(`junk-1:${lab.port}`);
    const done = await settled(inc.id, 120_000);
    expect(done.status).toBe('diagnosed');
    expect(done.report?.steps.find((s) => s.id === 'logs')?.status).toBe('ok');
    expect(done.report?.facts.logs?.signatures.emfile).toBeGreaterThan(0);
    for (const f of done.report?.facts.logs?.files ?? []) for (const l of f.tail) expect(l.length).toBeLessThanOrEqual(2000);

    const shown = await cli(['incident', inc.id, '--json']);
    expect(shown.code, shown.err).toBe(0);
    const parsed = JSON.parse(shown.out) as { incident: Incident };
    expect(parsed.incident.report?.facts.logs?.files).toHaveLength(2);

    const thread = (await threadOf(inc.id))?.ts ?? '';
    await until('the diagnosis in the thread', () => inThread(thread).some((m) => `${m.text}${JSON.stringify(m.blocks ?? [])}`.includes('Diagnosis: connreset')), 20_000);
    const posted = inThread(thread);
    const all = posted.map((m) => `${m.text}\n${JSON.stringify(m.blocks ?? [])}`).join('\n');
    expect(all).toMatch(/too many open files/);
    // Rendered, not obeyed: no @channel ping, no user mention smuggled in from a log line.
    expect(all).not.toMatch(/<!channel>|<@U0BOSS>/);
    expect(slack.violations.slice(violationsBefore)).toEqual([]);
    expect(slack.calls.filter((c) => c.status !== 200 && c.status !== 429)).toEqual([]);

    const md = await cli(['postmortem', inc.id]);
    expect(md.code, md.err).toBe(0);
    expect(md.out).toMatch(/^# Postmortem/);
    expect(md.out).not.toMatch(/[\u0000\u0007\u001b]/);
    const pm = await cli(['postmortem', inc.id, '--format', 'json']);
    expect(pm.code, pm.err).toBe(0);
    expect(() => JSON.parse(pm.out)).not.toThrow();
  }, 180_000);
});
