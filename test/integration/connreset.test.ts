import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Report } from '../../src/engine/report.js';
import { startLab, type LabHandle } from '../../src/lab/lab.js';
import { freePort } from '../helpers/ports.js';
import { startSshd, TEST_USER, type Sshd } from '../helpers/sshd.js';

const CLI = join(import.meta.dirname, '../../dist/cli.js');

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 60_000, maxBuffer: 32 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

let lab: LabHandle;
let sshd: Sshd;
let configPath: string;
let localConfigPath: string;

beforeAll(async () => {
  const port = await freePort();
  // The lab runs as the SSH user, so that user may read the lab's /proc/PID/fd (as in production
  // with the service's own user, or sudo for the runbook's commands).
  lab = await startLab({ scenario: 'db-pool', port, runAs: TEST_USER });
  sshd = await startSshd();
  const dir = mkdtempSync(join(tmpdir(), 'triage-cfg-'));
  configPath = join(dir, 'triage.config.yaml');
  writeFileSync(
    configPath,
    [
      'hosts:',
      '  lab-1:',
      '    address: 127.0.0.1',
      '    ssh:',
      `      port: ${sshd.port}`,
      `      user: ${sshd.user}`,
      `      keyPath: ${sshd.keyPath}`,
      '      hostKey:',
      `        knownHosts: ${sshd.knownHostsPath}`,
      'services:',
      '  checkout:',
      `    port: ${port}`,
      '    instances: [lab-1]',
      'investigation:',
      '  probePath: /xx/checkalive',
      // About one probe in five is accepted when a handler frees a descriptor and then times out
      // waiting for the pool; ten attempts make `reset` the commonest outcome with near certainty.
      '  probeAttempts: 10',
    ].join('\n'),
  );
  localConfigPath = join(dir, 'local.yaml');
  writeFileSync(localConfigPath, 'investigation:\n  probePath: /xx/checkalive\n  probeAttempts: 10\n');
  await lab.waitForFailure(45_000);
}, 90_000);

afterAll(async () => {
  await lab?.stop();
  await sshd?.stop();
});

/** What both transports must find: the write-up's incident, measured. */
function expectIncident(r: Report) {
  expect(r.runbook).toBe('connreset');
  expect(r.target.pid).toBe(lab.pid);
  expect(r.symptom.kind).toBe('reset');
  const fds = r.facts.fds;
  expect(fds?.softLimit).toBe(lab.nofile);
  expect(fds?.open).toBeGreaterThanOrEqual(lab.nofile - 2);
  expect(fds?.byKind.socket).toBeGreaterThan(lab.nofile / 2);
  const tcp = r.facts.tcp;
  expect(tcp?.port).toBe(lab.port);
  expect(tcp?.closeWait.total).toBeGreaterThan(10);
  expect(tcp?.closeWait.ownedByPid).toBeGreaterThan(10);
  const pool = r.facts.pool?.stats;
  expect(pool?.maxOpen).toBe(lab.settings.poolMax);
  expect(pool?.inUse).toBe(pool?.maxOpen);
  expect(pool?.idle).toBe(0);
  expect(pool?.waitCountDelta).toBeGreaterThan(0);
  expect(r.facts.kernel?.delta).toBeDefined();
  const logs = r.facts.logs;
  expect(logs?.files.map((f) => f.path).sort()).toEqual(['access.log', 'app.log', 'error.log'].map((f) => join(lab.logDir, f)));
  const ids = r.findings.map((f) => f.id);
  expect(ids).toEqual(expect.arrayContaining(['probe-reset', 'fds-near-limit', 'close-wait', 'pool-saturated']));
  for (const s of r.steps) {
    // No Prometheus server in these configs: the history step is skipped, saying so.
    if (s.id === 'history') expect(s).toMatchObject({ status: 'skipped', error: expect.stringMatching(/not configured/) });
    else expect(s, `${s.id}: ${s.error ?? ''}`).toMatchObject({ status: 'ok' });
  }
  // The write-up's conclusion, reached from the measured facts, every link backed by one.
  expect(r.diagnosis.rootCause?.id).toBe('db-pool-saturation');
  expect(r.diagnosis.chain).toEqual(['db-pool-saturation', 'handler-blocked', 'close-wait-pileup', 'fd-exhaustion', 'reset']);
  expect(r.diagnosis.links.every((l) => l.verified)).toBe(true);
  expect(r.diagnosis.rootCause?.confidence).toBeGreaterThanOrEqual(0.8);
  expect(r.diagnosis.ruledOut.map((x) => x.id)).toEqual(expect.arrayContaining(['fd-leak', 'listen-backlog-overflow', 'process-down']));
  expect(r.recommendations.map((x) => x.kind)).toEqual(expect.arrayContaining(['stop-loss', 'fix', 'monitoring']));
}

describe('connreset against the db-pool lab', () => {
  it('over SSH (a real sshd on loopback) reports the incident', async () => {
    const res = await cli(['investigate', 'connreset', `lab-1:${lab.port}`, '--config', configPath, '--json', '--interval', '1000']);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const report = JSON.parse(res.stdout) as Report;
    expect(report.target).toMatchObject({ host: 'lab-1', via: 'ssh', service: 'checkout', address: '127.0.0.1' });
    expectIncident(report);
  });

  it('with --local reports the same incident', async () => {
    const res = await cli(['investigate', 'connreset', `127.0.0.1:${lab.port}`, '--local', '--config', localConfigPath, '--json', '--interval', '1000']);
    expect(res.code).toBe(0);
    const report = JSON.parse(res.stdout) as Report;
    expect(report.target.via).toBe('local');
    expectIncident(report);
  });

  it('prints a readable report with the numbers', async () => {
    const res = await cli(['investigate', 'connreset', `127.0.0.1:${lab.port}`, '--local', '--config', localConfigPath, '--samples', '1']);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/Symptom\s+reset/);
    expect(res.stdout).toMatch(new RegExp(`\\d+/${lab.nofile} descriptors open`));
    expect(res.stdout).toMatch(/sockets in CLOSE_WAIT/);
    expect(res.stdout).toMatch(/DB pool at its max: 2\/2 in use/);
    // Without a TTY, progress is one line per finished step on stderr.
    expect(res.stderr).toMatch(/✔ fds/);
  });

  it('fails with one line and exit 1 when SSH refuses the key', async () => {
    const bad = configPath.replace('.yaml', '-badkey.yaml');
    const { readFileSync } = await import('node:fs');
    writeFileSync(bad, readFileSync(configPath, 'utf8').replace(sshd.keyPath, sshd.otherKeyPath));
    const res = await cli(['investigate', 'connreset', `lab-1:${lab.port}`, '--config', bad, '--json']);
    expect(res.code).toBe(1);
    expect(res.stdout).toBe('');
    expect(res.stderr.trim().split('\n')).toHaveLength(1);
    expect(res.stderr).toMatch(/^triage: lab-1: SSH login as triage-test refused/);
  });
});

describe('connreset when the SSH user may not see the process', () => {
  it('reports the step that lacks permission with its reason and runs the others', async () => {
    const { spawn } = await import('node:child_process');
    const port = await freePort();
    // A service owned by root: the unprivileged SSH user cannot see its PID through ss -p.
    const child = spawn(process.execPath, ['-e', `require('node:http').createServer((q, s) => s.end('ok')).listen(${port}, '127.0.0.1')`], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 500));
      const cfg = configPath.replace('.yaml', '-root.yaml');
      const { readFileSync } = await import('node:fs');
      writeFileSync(cfg, readFileSync(configPath, 'utf8').replace(`port: ${lab.port}`, `port: ${port}`));
      const res = await cli(['investigate', 'connreset', `lab-1:${port}`, '--config', cfg, '--json', '--samples', '1']);
      expect(res.code).toBe(0);
      const r = JSON.parse(res.stdout) as Report;
      const byId = Object.fromEntries(r.steps.map((s) => [s.id, s]));
      expect(byId.process).toMatchObject({ status: 'failed' });
      expect(byId.process?.error).toMatch(/not visible to this user/);
      expect(byId.fds).toMatchObject({ status: 'skipped' });
      expect(byId['probe-http']).toMatchObject({ status: 'ok' });
      expect(byId['kernel-counters']).toMatchObject({ status: 'ok' });
      expect(byId['tcp-states']).toMatchObject({ status: 'ok' });
      expect(r.symptom.kind).toBe('ok');
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('connreset over SSH when the user cannot see the incident process', () => {
  it('the db-pool incident of a root-owned service: every claim is backed, nothing is said of what could not be read', async () => {
    const { checkClaims } = await import('../../src/lab/claims.js');
    const { DEFAULT_THRESHOLDS } = await import('../../src/runbooks/connreset-rules.js');
    const { readFileSync } = await import('node:fs');
    const port = await freePort();
    const rootLab = await startLab({ scenario: 'db-pool', port });
    try {
      await rootLab.waitForFailure(45_000);
      const cfg = configPath.replace('.yaml', '-rootlab.yaml');
      writeFileSync(cfg, readFileSync(configPath, 'utf8').replace(`port: ${lab.port}`, `port: ${port}`));
      const res = await cli(['investigate', 'connreset', `lab-1:${port}`, '--config', cfg, '--json']);
      expect(res.code, res.stderr).toBe(0);
      const r = JSON.parse(res.stdout) as Report;
      const context = JSON.stringify({ steps: r.steps, diagnosis: r.diagnosis }, null, 1);
      expect(r.steps.find((s) => s.id === 'process')?.status, context).toBe('failed');
      expect(r.facts.tcp?.closeWait.ownedByPid, context).toBeNull();
      expect(checkClaims(r, Object.values(DEFAULT_THRESHOLDS)), context).toEqual([]);
      const text = JSON.stringify(r.diagnosis);
      expect(text).not.toMatch(/owned by the process|held by the process/);
      for (const [kind, n] of Object.entries(r.symptom.kind ? (r as { symptom: { counts: Record<string, number> } }).symptom.counts : {})) {
        if (n > 0) expect(text).not.toContain(`no probe saw ${kind}`);
      }
    } finally {
      await rootLab.stop();
    }
  }, 120_000);
});
