// Injection corpus through the webhooks, the config and the CLI (issue 7): hostile label values,
// label names, fingerprints and bodies; hostile names and values in a config file; hostile
// targets, runbooks and ids on the command line. Each gets a clear error (400 with a reason, an
// unroutable alert with a reason, exit 2 with one line naming the problem) and runs nothing; the
// only command lines that reach the SSH user's logging shell are the runbook's, from real
// investigations (an alert, the CLI) and a dry run.
import { execFile, spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { appendFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli.js';
import { NAME_PATTERN, parseConfigText } from '../../src/config.js';
import type { Report } from '../../src/engine/report.js';
import { alertmanagerPayload } from '../helpers/alertmanager.js';
import { commandProblem, HOSTILE_CATEGORIES, shellWords, type HostileInput } from '../helpers/hostile-corpus.js';
import { CLI, triageJson } from '../helpers/triage-service.js';
import { ALERT_CHANNEL, AM_TOKEN, GENERIC_PASSWORD, GENERIC_USER, GRAFANA_SECRET, mapLimit, startRig, unexpectedCommands, until, type Rig } from '../fixtures/hostile/rig.js';

/** Alertmanager's and our own cap on a label value (src/integrations/alerts/common.ts LIMITS). */
const LABEL_MAX = 1024;
/** Longest argv element Linux passes to a new process (MAX_ARG_STRLEN); longer inputs are tested in-process. */
const ARG_MAX = 128 * 1024 - 1;
const RAW_MARKUP = /<[!@#]|<(?:https?|mailto):/;
/** One line of printable ASCII (and …): what a reason returned to a sender or printed on stderr must be. */
const ONE_PRINTABLE_LINE = /^[\x20-\x7e\u2026]+$/;
/** What must never reach a terminal raw: C0 controls but \t and \n, DEL, C1 controls, bidi overrides and isolates. */
const TERMINAL_UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;
/** What a refusal of a target says (parseCommand, parseTarget, resolveTarget). */
const REFUSAL = /too long|unknown command|needs a target|unexpected|is empty|not an IPv6 address|has no port|not a host name|not a port|out of range|not in the inventory/;

let rig: Rig;
let scratch: string;
const context = () => `serve: ${rig.serve.output().slice(-1500)}\nworker: ${rig.worker.output().slice(-1500)}`;

beforeAll(async () => {
  rig = await startRig('hooks', { alertChannel: true });
  scratch = mkdtempSync(join(tmpdir(), 'triage-inj-cfg-'));
}, 90_000);

afterAll(async () => {
  await rig?.stop();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------

interface HookResponse {
  status: number;
  body: { error?: string; accepted?: number; incidents?: { id: string; created: boolean; target: string }[]; unrouted?: { fingerprint: string; reason: string }[] };
}

async function postHook(source: 'alertmanager' | 'grafana' | 'generic', body: string): Promise<HookResponse> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (source === 'alertmanager') headers.authorization = `Bearer ${AM_TOKEN}`;
  if (source === 'generic') headers.authorization = `Basic ${Buffer.from(`${GENERIC_USER}:${GENERIC_PASSWORD}`).toString('base64')}`;
  if (source === 'grafana') {
    const ts = Math.floor(Date.now() / 1000);
    headers['X-Grafana-Alerting-Signature'] = createHmac('sha256', GRAFANA_SECRET).update(`${ts}:${body}`).digest('hex');
    headers['X-Grafana-Alerting-Signature-Timestamp'] = String(ts);
  }
  const res = await fetch(`${rig.serve.url}/webhooks/${source}`, { method: 'POST', headers, body });
  const text = await res.text();
  let parsed: HookResponse['body'] = {};
  try {
    parsed = JSON.parse(text) as HookResponse['body'];
  } catch {
    parsed = { error: `(not JSON) ${text.slice(0, 200)}` };
  }
  return { status: res.status, body: parsed };
}

interface TestAlert {
  fingerprint: string;
  labels: Record<string, string>;
}

const STARTS_AT = '2026-12-01T20:00:00Z';

function payload(source: 'alertmanager' | 'grafana' | 'generic', alerts: TestAlert[]): string {
  if (source === 'generic') {
    return JSON.stringify({ events: alerts.map((a) => ({ id: a.fingerprint, state: 'firing', since: STARTS_AT, tags: a.labels, notes: {} })) });
  }
  const core = alertmanagerPayload(alerts.map((a) => ({ labels: a.labels, startsAt: STARTS_AT, fingerprint: a.fingerprint })), { groupLabels: {}, externalURL: 'http://127.0.0.1:9093' });
  if (source === 'alertmanager') return JSON.stringify(core);
  return JSON.stringify({ ...core, version: '1', orgId: 1, title: '[FIRING] inj', state: 'alerting', message: 'inj', alerts: core.alerts.map((a) => ({ ...a, dashboardURL: '', panelURL: '', values: {}, valueString: '' })) });
}

/** Sends alerts in one request each (of at most 500 alerts); every one must come back unrouted with a reason. */
async function expectAllUnrouted(source: 'alertmanager' | 'grafana' | 'generic', alerts: TestAlert[], what: string, reason: RegExp): Promise<void> {
  const problems: string[] = [];
  for (let i = 0; i < alerts.length; i += 500) {
    const batch = alerts.slice(i, i + 500);
    const res = await postHook(source, payload(source, batch));
    expect(res.status, `${source} ${what}: ${res.body.error ?? ''}`).toBe(200);
    expect(res.body.incidents ?? [], `${source} ${what}: no incident opened`).toEqual([]);
    const byFp = new Map((res.body.unrouted ?? []).map((u) => [u.fingerprint, u.reason]));
    for (const a of batch) {
      const r = byFp.get(a.fingerprint);
      if (r === undefined) problems.push(`${a.fingerprint}: not reported as unrouted`);
      else if (!reason.test(r) || !ONE_PRINTABLE_LINE.test(r) || r.length > 400) problems.push(`${a.fingerprint}: unclear reason ${JSON.stringify(r)}`);
    }
  }
  expect(problems, `${source} ${what}`).toEqual([]);
}

const fitsLabel = (c: HostileInput) => c.value.length <= LABEL_MAX;

describe('injection through the webhooks', () => {
  it('hostile instance labels: every alert is recorded as unroutable with a reason, on each webhook', async () => {
    const inputs = rig.corpus.filter(fitsLabel);
    expect(inputs.length).toBeGreaterThanOrEqual(200);
    const alerts = (tag: string) => inputs.map((c, i) => ({ fingerprint: `${tag}-${i}`, labels: { alertname: 'InjInstance', instance: c.value } }));
    const reason = /label instance|not in the inventory/;
    await expectAllUnrouted('alertmanager', alerts('am'), 'instance', reason);
    await expectAllUnrouted('grafana', alerts('gf'), 'instance', reason);
    await expectAllUnrouted('generic', alerts('gen'), 'instance', reason);
  });

  it('hostile host, port and service labels: unroutable with a reason', async () => {
    // A bare `lab-1` is a real host label; everything else in the corpus is not.
    const inputs = rig.corpus.filter((c) => fitsLabel(c) && c.value !== 'lab-1');
    expect(inputs.length).toBeGreaterThanOrEqual(200);
    const port = String(rig.port);
    await expectAllUnrouted('alertmanager', inputs.map((c, i) => ({ fingerprint: `hp-h-${i}`, labels: { alertname: 'InjHostPort', host: c.value, port } })), 'host label', /not in the inventory|label host/);
    await expectAllUnrouted('alertmanager', inputs.map((c, i) => ({ fingerprint: `hp-p-${i}`, labels: { alertname: 'InjHostPort', host: 'lab-1', port: c.value } })), 'port label', /label port/);
    await expectAllUnrouted('alertmanager', inputs.map((c, i) => ({ fingerprint: `hs-s-${i}`, labels: { alertname: 'InjHostService', host: 'lab-1', service: c.value } })), 'service label', /service .* is not in the inventory|label service/);
    await expectAllUnrouted('alertmanager', inputs.map((c, i) => ({ fingerprint: `hs-h-${i}`, labels: { alertname: 'InjHostService', host: c.value, service: 'checkout' } })), 'host label with service', /not in the inventory|not an instance|label host/);
  });

  it('hostile label names and alert names matching no route: unroutable, named escaped', async () => {
    const inputs = rig.corpus.filter(fitsLabel);
    await expectAllUnrouted('alertmanager', inputs.map((c, i) => ({ fingerprint: `ln-${i}`, labels: { alertname: c.value, [c.value]: c.value } })), 'label names', /no route matches alertname=/);
  });

  it('over-long values and hostile bodies: 400 (or 413) with a reason, nothing stored', async () => {
    const incidentsBefore = (await rig.store.list({ limit: 500 })).length;
    const long = rig.corpus.filter((c) => !fitsLabel(c));
    expect(long.length).toBeGreaterThanOrEqual(3);
    const statuses: number[] = [];
    for (const c of long) {
      const res = await postHook('alertmanager', payload('alertmanager', [{ fingerprint: c.id, labels: { alertname: 'InjInstance', instance: c.value } }]));
      expect([400, 413], c.id).toContain(res.status);
      expect(res.body.error ?? '', c.id).toMatch(/longer than|larger than/);
      expect(res.body.error ?? '').toMatch(ONE_PRINTABLE_LINE);
      statuses.push(res.status);
    }
    // The 1 MB value makes the body larger than server.maxBodyBytes: answered 413, not reset.
    expect(statuses).toContain(413);
    // Every corpus string as the whole body, and as the alert list, the status, the fingerprint.
    const bodies = rig.corpus.filter((c) => c.value.length < 64 * 1024);
    const results = await mapLimit(bodies, 8, async (c) => {
      const asBody = await postHook('alertmanager', c.value);
      const asAlerts = await postHook('alertmanager', JSON.stringify({ version: '4', status: 'firing', receiver: 'triage', alerts: c.value }));
      const asStatus = await postHook('generic', JSON.stringify({ events: [{ id: 'x', state: c.value, since: STARTS_AT, tags: {}, notes: {} }] }));
      return { c, asBody, asAlerts, asStatus };
    });
    const unclear = results.flatMap(({ c, asBody, asAlerts, asStatus }) =>
      [asBody, asAlerts, asStatus]
        .filter((r) => r.status !== 400 || !ONE_PRINTABLE_LINE.test(r.body.error ?? ''))
        .map((r) => `${c.id}: ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`),
    );
    expect(unclear).toEqual([]);
    expect((await rig.store.list({ limit: 500 })).length).toBe(incidentsBefore);
  });

  it('hostile alert names and fingerprints for a real target: one incident, escaped in Slack, investigated over SSH', async () => {
    const inputs = rig.corpus.filter(fitsLabel);
    const target = `lab-2:${rig.port}`;
    const alerts = inputs.map((c, i) => ({ fingerprint: c.value.length <= 128 ? c.value : `an-${i}`, labels: { alertname: c.value, team: 'inj', instance: target } }));
    const res = await postHook('alertmanager', payload('alertmanager', alerts));
    expect(res.status, res.body.error).toBe(200);
    expect(res.body.unrouted).toEqual([]);
    expect(new Set(res.body.incidents?.map((i) => i.target))).toEqual(new Set([target]));
    expect(res.body.incidents?.filter((i) => i.created)).toHaveLength(1);
    const list = await rig.store.list({ limit: 500 });
    expect(list.map((i) => i.target)).toEqual([target]);
    const inc = list[0];
    expect(inc?.alerts).toHaveLength(alerts.length);
    // The investigation runs over SSH and finds the logs among the lab's open files.
    const report: Report = await until('the investigation of lab-2', async () => (await rig.store.get(inc?.id ?? ''))?.report, 60_000, context);
    expect(report.target.via).toBe('ssh');
    expect((report.facts.logs?.files ?? []).map((f) => f.path).sort()).toEqual(['access.log', 'app.log', 'error.log'].map((f) => `${rig.logDir}/${f}`));
    // Root message, "another alert joined" lines and the diagnosis: the names are escaped, never markup.
    await until('the joined-alert lines', () => rig.slack.messages(ALERT_CHANNEL).filter((m) => /Another alert joined/.test(m.text)).length >= alerts.length - 1, 30_000, context);
    const sent = rig.slack.messages(ALERT_CHANNEL).map((m) => `${m.text}\n${JSON.stringify(m.blocks ?? [])}`);
    expect(sent.filter((t) => RAW_MARKUP.test(t)).map((t) => t.slice(0, 200))).toEqual([]);
    expect(rig.slack.violations).toEqual([]);
  }, 90_000);

  it('the hostile names in the timeline reach the terminal escaped: triage incident ID, triage incidents', async () => {
    const [inc] = await rig.store.list({ limit: 5 });
    expect(inc).toBeDefined();
    const [one, all] = await Promise.all([runCli(['incident', inc?.id ?? '', '--config', rig.configPath]), runCli(['incidents', '--config', rig.configPath])]);
    expect(one.code, one.stderr).toBe(0);
    expect(all.code, all.stderr).toBe(0);
    for (const out of [one.stdout, all.stdout]) expect(out.match(TERMINAL_UNSAFE) ?? []).toEqual([]);
    // Each timeline entry is one line: a hostile newline cannot forge another.
    const timeline = one.stdout.slice(one.stdout.indexOf('Timeline\n') + 'Timeline\n'.length).split('\n\n')[0]?.split('\n') ?? [];
    expect(timeline.length).toBeGreaterThan(rig.corpus.filter(fitsLabel).length);
    expect(timeline.filter((l) => !/^  \d{4}-\d\d-\d\dT\S+  \S/.test(l)).slice(0, 5)).toEqual([]);
  });

  it('evidence from the host is shown escaped on a terminal, and kept byte for byte when piped: triage incident ID --artifact', async () => {
    const [inc] = await rig.store.list({ limit: 1 });
    const evil = 'GET /\x1b]0;pwned\x07\x1b[2J\x1b[1A 200\nnext line\n';
    await rig.store.putArtifact(inc?.id ?? '', 'hostile-log.txt', evil);
    const show = async (isTTY: boolean) => {
      let stdout = '';
      const code = await main(['incident', inc?.id ?? '', '--config', rig.configPath, '--artifact', 'hostile-log.txt'], { out: (s) => (stdout += s), err: () => {}, isTTY, env: { HOME: tmpdir() } });
      return { code, stdout };
    };
    const tty = await show(true);
    expect(tty.code).toBe(0);
    expect(tty.stdout.match(TERMINAL_UNSAFE) ?? []).toEqual([]);
    expect(tty.stdout).toContain('\\u{1b}[2J');
    expect(tty.stdout.split('\n')).toHaveLength(3);
    expect((await show(false)).stdout).toBe(evil);
  });
});

// ---------------------------------------------------------------------------------------------

type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- a YAML document edited in place

/** Where a hostile value goes in the config, and the path its problem must be reported at. */
interface ConfigSpot {
  name: string;
  /** Inputs this spot refuses (some are legal values there, e.g. a log path starting with "/"). */
  applies(v: string): boolean;
  put(doc: Doc, v: string): void;
  path(v: string): string;
}

/** Sets an own property, even `__proto__`, as a YAML mapping key would be. */
function setKey(obj: Doc, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

const SPOTS: ConfigSpot[] = [
  { name: 'host name', applies: (v) => !NAME_PATTERN.test(v), put: (d, v) => setKey(d.hosts, v, d.hosts['lab-1']), path: () => 'hosts.' },
  { name: 'host address', applies: (v) => !/^[A-Za-z0-9.:-]+$/.test(v), put: (d, v) => (d.hosts['lab-1'].address = v), path: () => 'hosts.lab-1.address' },
  { name: 'ssh user', applies: (v) => !/^[a-z_][a-z0-9_.-]{0,31}$/.test(v), put: (d, v) => (d.hosts['lab-1'].ssh.user = v), path: () => 'hosts.lab-1.ssh.user' },
  { name: 'jump host', applies: (v) => v !== 'lab-2', put: (d, v) => (d.hosts['lab-1'].ssh.jumpHost = v), path: () => 'hosts.lab-1.ssh.jumpHost' },
  { name: 'service name', applies: (v) => !NAME_PATTERN.test(v), put: (d, v) => setKey(d.services, v, d.services.checkout), path: () => 'services.' },
  { name: 'instance', applies: (v) => v !== 'lab-1' && v !== 'lab-2', put: (d, v) => (d.services.checkout.instances = [v]), path: () => 'services.checkout.instances.0' },
  { name: 'template placeholder', applies: (v) => !v.includes('}'), put: (d, v) => (d.services.checkout.actions.restart = ['kill', `{pid${v}}`]), path: () => 'services.checkout.actions.restart.1' },
  { name: 'log path', applies: (v) => !v.startsWith('/'), put: (d, v) => (d.services.checkout.logs.access = [v]), path: () => 'services.checkout.logs.access.0' },
  { name: 'port', applies: () => true, put: (d, v) => (d.services.checkout.port = v), path: () => 'services.checkout.port' },
  { name: 'alert channel', applies: (v) => !/^[A-Z0-9]{6,}$/.test(v), put: (d, v) => (d.slack.alertChannel = v), path: () => 'slack.alertChannel' },
  { name: 'approver', applies: (v) => !/^[UW][A-Z0-9]{2,}$/.test(v), put: (d, v) => (d.approvals = { approvers: [v] }), path: () => 'approvals.approvers.0' },
  { name: 'redis prefix', applies: (v) => !/^[A-Za-z0-9_-]+$/.test(v), put: (d, v) => (d.redis.prefix = v), path: () => 'redis.prefix' },
  { name: 'host key fingerprint', applies: () => true, put: (d, v) => (d.hosts['lab-1'].ssh.hostKey = { fingerprint: v }), path: () => 'hosts.lab-1.ssh.hostKey.fingerprint' },
  { name: 'webhook auth type', applies: () => true, put: (d, v) => (d.webhooks.grafana.auth.type = v), path: () => 'webhooks.grafana.auth' },
  { name: 'route runbook', applies: () => true, put: (d, v) => (d.routes[0].runbook = v), path: () => 'routes.0.runbook' },
];

describe('injection through the config', () => {
  /** A small valid config with every section the spots edit (parsed thousands of times: kept short). */
  const baseDoc = (): Doc => ({
    hosts: { 'lab-1': { address: '127.0.0.1', ssh: { port: 22, user: 'triage', keyPath: '/etc/triage/id', hostKey: { knownHosts: '/etc/triage/known_hosts' } } } },
    services: { checkout: { port: 2133, instances: ['lab-1'], logs: { access: ['/var/log/checkout/access.log'] }, actions: { restart: ['kill', '{pid}'] } } },
    redis: { prefix: 'triage' },
    slack: { mode: 'http', botToken: 'xoxb-test', signingSecret: 'secret', alertChannel: 'C0ALERTS1' },
    webhooks: { grafana: { auth: { type: 'hmac', secret: 'secret' } } },
    routes: [{ match: { alertname: 'FdUsageHigh' }, runbook: 'connreset' }],
  });

  it('the base config is valid', () => {
    expect(parseConfigText(JSON.stringify(baseDoc()), 'base.yaml')).toMatchObject({ ok: true });
  });

  it('a hostile name or value anywhere is reported at its path, one printable line per problem', () => {
    const unclear: string[] = [];
    let checked = 0;
    for (const spot of SPOTS) {
      for (const c of rig.corpus.filter((x) => x.value.length <= 64 * 1024 && spot.applies(x.value))) {
        const doc = baseDoc();
        spot.put(doc, c.value);
        // JSON is YAML, and much faster to write than YAML; the CLI test below uses YAML files.
        const parsed = parseConfigText(JSON.stringify(doc), 'inj.yaml');
        checked++;
        if (parsed.ok) {
          unclear.push(`${spot.name} ${c.id} ${JSON.stringify(c.value.slice(0, 60))}: accepted`);
          continue;
        }
        if (!parsed.problems.some((p) => p.startsWith(spot.path(c.value)))) unclear.push(`${spot.name} ${c.id}: no problem at ${spot.path(c.value)}: ${JSON.stringify(parsed.problems.slice(0, 3))}`);
        for (const p of parsed.problems) if (!ONE_PRINTABLE_LINE.test(p) || p.length > 600) unclear.push(`${spot.name} ${c.id}: problem is not one printable line: ${JSON.stringify(p.slice(0, 200))}`);
      }
    }
    expect(checked).toBeGreaterThan(2500);
    expect(unclear.slice(0, 30)).toEqual([]);
  });

  it('YAML and JSON breakers as the whole file: a reason, not a crash', () => {
    const unclear = rig.corpus
      .filter((c) => c.value.length <= 64 * 1024)
      .flatMap((c) => {
        const parsed = parseConfigText(c.value, 'inj.yaml');
        // A comment or an anchored empty node is an empty document: the default config, rightly.
        if (parsed.ok && parseYaml(c.value) == null) return [];
        if (parsed.ok) return [`${c.id} ${JSON.stringify(c.value.slice(0, 60))}: accepted as a config`];
        return parsed.problems.filter((p) => !ONE_PRINTABLE_LINE.test(p)).map((p) => `${c.id}: ${JSON.stringify(p.slice(0, 200))}`);
      });
    expect(unclear).toEqual([]);
  });

  it('triage config check FILE: exit 2 and every problem at its path, one line each, for YAML files hostile everywhere', async () => {
    const before = rig.sshd.commands().length;
    // Two files, each with a different hostile value in every spot at once.
    const files = [0, 1].map((k) => {
      const doc = baseDoc();
      const used = SPOTS.map((spot, i) => {
        const fits = rig.corpus.filter((x) => spot.applies(x.value) && x.value.length < 4096 && !x.value.includes('\0') && x.value !== 'lab-1');
        const c = fits[(i * 19 + k * 101) % fits.length] as HostileInput;
        spot.put(doc, c.value);
        return { spot, c };
      });
      const file = join(scratch, `hostile-${k}.yaml`);
      writeFileSync(file, stringify(doc));
      return { file, used };
    });
    // And YAML that makes the parser warn (an unknown directive, an unknown tag): the warning must not print.
    const breakers = rig.corpus.filter((c) => /^%|!!js/.test(c.value)).map((c, k) => {
      const file = join(scratch, `breaker-${k}.yaml`);
      writeFileSync(file, c.value);
      return { c, file };
    });
    expect(breakers.length).toBeGreaterThanOrEqual(3);
    const broken = await Promise.all(breakers.map(({ file }) => runCli(['config', 'check', file])));
    breakers.forEach(({ c }, k) => {
      const r = broken[k]!;
      expect(r.code, `${c.id}: ${r.stderr}`).toBe(2);
      for (const l of r.stderr.trimEnd().split('\n')) expect(l, c.id).toMatch(ONE_PRINTABLE_LINE);
      expect(r.stderr).not.toMatch(/Warning/);
    });
    const results = await Promise.all(files.map(({ file }) => runCli(['config', 'check', file])));
    files.forEach(({ file, used }, k) => {
      const r = results[k]!;
      expect(r.code, `${file}: ${r.stderr}`).toBe(2);
      expect(r.stdout).toBe('');
      const lines = r.stderr.trimEnd().split('\n');
      for (const l of lines) expect(l, file).toMatch(ONE_PRINTABLE_LINE);
      const missing = used.filter(({ spot }) => !lines.some((l) => l.startsWith(spot.path(''))));
      expect(missing.map(({ spot, c }) => `${spot.name} ${c.id}`), r.stderr).toEqual([]);
    });
    expect(rig.sshd.commands().length).toBe(before);
  });
});

// ---------------------------------------------------------------------------------------------

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runCli(args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 30_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: unknown }).code as number | null) : 0;
      resolve({ code: typeof code === 'number' ? code : null, stdout, stderr });
    });
  });
}

/** The CLI in this process (src/cli.ts main): exit code and what it wrote. */
async function runMain(args: string[]): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await main(args, { out: (s) => (stdout += s), err: (s) => (stderr += s), isTTY: false, env: { HOME: tmpdir() } });
  return { code, stdout, stderr };
}

/** Exit 2, nothing on stdout, exactly one printable line on stderr. */
function badInput(r: CliResult): string | null {
  if (r.code !== 2) return `exit ${r.code}`;
  if (r.stdout !== '') return `stdout ${JSON.stringify(r.stdout.slice(0, 100))}`;
  if (!r.stderr.endsWith('\n') || r.stderr.indexOf('\n') !== r.stderr.length - 1) return `not one line: ${JSON.stringify(r.stderr.slice(0, 200))}`;
  if (!ONE_PRINTABLE_LINE.test(r.stderr.slice(0, -1))) return `not printable: ${JSON.stringify(r.stderr.slice(0, 200))}`;
  return null;
}

describe('injection through the CLI', () => {
  it('hostile targets, runbooks, ids and options: exit 2 with one line, in-process for all of them', async () => {
    const before = rig.sshd.commands().length;
    const F = rig.configPath;
    const p = `lab-1:${rig.port}`;
    const cases = rig.corpus.flatMap((c) => [
      { c, args: ['investigate', 'connreset', c.value, '--config', F] },
      { c, args: ['investigate', c.value, p, '--config', F] },
      { c, args: ['action', '--kind', 'restart', c.value, '--dry-run', '--config', F] },
      { c, args: ['action', '--kind', c.value, p, '--dry-run', '--config', F] },
      { c, args: ['investigate', 'connreset', p, '--config', F, '--samples', c.value] },
      { c, args: ['incident', c.value, '--config', F] },
      { c, args: ['postmortem', c.value, '--config', F] },
    ]);
    const unclear: string[] = [];
    for (const { c, args } of cases) {
      const problem = badInput(await runMain(args));
      if (problem) unclear.push(`${args.slice(0, 2).join(' ')} ${c.id} ${JSON.stringify(c.value.slice(0, 60))}: ${problem}`);
    }
    expect(cases.length).toBeGreaterThan(1500);
    expect(unclear.slice(0, 30)).toEqual([]);
    expect(rig.sshd.commands().length).toBe(before);
  }, 60_000);

  it('the real CLI (node dist/cli.js): exit 2 and one line for one input of each category, nothing runs', async () => {
    const before = rig.sshd.commands().length;
    // One per category (a node process costs ~0.5 s of CPU; the in-process test covers them all).
    const sample = HOSTILE_CATEGORIES.map((cat, k) => {
      const fits = rig.corpus.filter((c) => c.category === cat && c.value.length <= ARG_MAX && !c.value.includes('\0'));
      return fits[(k * 7) % fits.length] as HostileInput;
    });
    expect(sample.length).toBe(HOSTILE_CATEGORIES.length);
    const t0 = Date.now();
    const results = await mapLimit(sample, 3, (c) => runCli(['investigate', 'connreset', c.value, '--config', rig.configPath]));
    const unclear = sample.flatMap((c, i) => {
      const problem = badInput(results[i]!);
      return problem ? [`${c.id} ${JSON.stringify(c.value.slice(0, 60))}: ${problem}`] : [];
    });
    expect(unclear).toEqual([]);
    expect(rig.sshd.commands().length).toBe(before);
    console.log(`injection-cli: ${sample.length} CLI processes in ${Date.now() - t0} ms`);
  }, 60_000);

  it('triage shell --config F: every hostile line gets its own private reply, nothing runs', async () => {
    const before = rig.sshd.commands().length;
    // readline splits lines at CR and LF: those inputs would arrive as two lines.
    const inputs = rig.corpus.filter((c) => !/[\r\n]/.test(c.value));
    expect(inputs.length).toBeGreaterThanOrEqual(200);
    const child = spawn(process.execPath, [CLI, 'shell', '--config', rig.configPath], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.stdin.end(inputs.map((c) => `@triage connreset ${c.value}\n`).join(''));
    const code = await Promise.race([exit, new Promise<string>((r) => setTimeout(() => r('hung'), 45_000))]);
    if (code === 'hung') child.kill('SIGKILL');
    expect(code, out.slice(-2000)).toBe(0);
    const replies = out.split('triage (only you)> ').slice(1);
    expect(replies).toHaveLength(inputs.length);
    expect(replies.filter((r) => !REFUSAL.test(r)).map((r) => r.slice(0, 120))).toEqual([]);
    expect(out).not.toMatch(/Investigating/);
    expect(rig.sshd.commands().length).toBe(before);
  }, 60_000);

  it('log lines that would drive a terminal are printed escaped by triage investigate and triage shell', { timeout: 90_000 }, async () => {
    // What a client can put in a log line (a request path, a user agent): cursor moves, colours, a fake line, RTL.
    // Each says "too many open files", so it is shown as evidence of a finding.
    const hostile = ['GET /\x1b[2K\x1b[1A\x1b[32m✔ all good\x1b[0m', 'ua \x1b]0;pwned\x07 \r overwritten', 'rtl \u202e gnp.exe', `bell \x07\x08\x7f \x9b31m c1 $(touch ${rig.canary})`].map((l) => `accept: EMFILE too many open files ${l}`);
    for (const f of ['error.log', 'app.log']) appendFileSync(join(rig.logDir, f), `${hostile.join('\n')}\n`);
    const text = await runCli(['investigate', 'connreset', `lab-1:${rig.port}`, '--config', rig.configPath]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/too many open files/);
    expect(text.stdout).toMatch(/\\u\{1b\}/);
    expect(text.stdout.match(TERMINAL_UNSAFE) ?? []).toEqual([]);
    expect(text.stderr.match(TERMINAL_UNSAFE) ?? []).toEqual([]);
    const shell = spawn(process.execPath, [CLI, 'shell', '--config', rig.configPath], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    shell.stdout.on('data', (c: Buffer) => (out += c.toString()));
    shell.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const exit = new Promise<number | null>((r) => shell.once('exit', (code) => r(code)));
    shell.stdin.end(`@triage connreset lab-1:${rig.port}\n`);
    const code = await Promise.race([exit, new Promise<string>((r) => setTimeout(() => r('hung'), 60_000))]);
    if (code === 'hung') shell.kill('SIGKILL');
    expect(code, out.slice(-2000)).toBe(0);
    expect(out).toMatch(/Diagnosis/);
    expect(out.match(TERMINAL_UNSAFE) ?? []).toEqual([]);
    expect(existsSync(rig.canary)).toBe(false);
  });

  it('a real investigation from the CLI over SSH, and a dry run that only looks the PID up', { timeout: 90_000 }, async () => {
    const report = (await triageJson(['investigate', 'connreset', `lab-1:${rig.port}`, '--config', rig.configPath])) as Report;
    expect(report.target.via).toBe('ssh');
    expect(report.facts.logs?.files.find((f) => f.path === `${rig.logDir}/access.log`)?.tail.length).toBeGreaterThan(0);
    const before = rig.sshd.commands().length;
    const dry = await runCli(['action', '--kind', 'restart', `lab-1:${rig.port}`, '--dry-run', '--config', rig.configPath]);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(new RegExp(`restart checkout on lab-1:${rig.port}: kill ${rig.lab.pid}\\b`));
    // The process step only (ss, ps): the restart template is shown, never run.
    const during = rig.sshd.commands().slice(before).map((l) => shellWords(l)?.[4]);
    expect(during).toContain('ss');
    expect(during.filter((p) => p !== 'ss' && p !== 'ps')).toEqual([]);
  });
});

describe('what reached the shell', () => {
  it('the command-line checker refuses what a shell would interpret', () => {
    const allow = { paths: new Set(['/a b/x.log']) };
    expect(commandProblem("timeout -s KILL 10 tail -n 200 -- '/a b/x.log'", allow)).toBeNull();
    expect(commandProblem("timeout -s KILL 10 tail -n 200 -- '/a b/x.log';reboot", allow)).toMatch(/not a safely quoted/);
    expect(commandProblem('timeout -s KILL 10 tail -n 200 -- $(reboot)', allow)).toMatch(/not a safely quoted/);
    expect(commandProblem("timeout -s KILL 10 tail -n 200 -- '/a b/x.log'\nreboot", allow)).toMatch(/not a safely quoted/);
    expect(commandProblem('timeout -s KILL 10 tail -n 200 -- /a b/x.log', allow)).toMatch(/not from a template/);
    expect(commandProblem("timeout -s KILL 10 ss -Hltnp sport = ':2133;x'", allow)).toMatch(/not from a template/);
    expect(commandProblem('timeout -s KILL 10 kill 123', allow)).toMatch(/not one the steps run/);
    expect(commandProblem('ss -Hltnp sport = :2133', allow)).toMatch(/timeout/);
    expect(shellWords("a 'it'\\''s' b")).toEqual(['a', "it's", 'b']);
  });

  it('only the runbook\'s command templates ever reached the shell, and the canary was never created', () => {
    const lines = rig.sshd.commands();
    expect(lines.length).toBeGreaterThan(10);
    expect(unexpectedCommands(rig)).toEqual([]);
    expect(existsSync(rig.canary)).toBe(false);
    console.log(`injection-webhooks-cli: ${lines.length} command lines reached the shell, all from the templates`);
  });
});
