// The production set-up of SECURITY.md: the SSH user is not the service's user and reads the
// service's process through `sudo -n`, allowed by exactly the rules of examples/sudoers.triage.
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify as stringifyYaml } from 'yaml';
import type { StepContext } from '../../src/engine/step.js';
import type { Report } from '../../src/engine/report.js';
import { SshExecutor, DEFAULT_SSH_TUNING } from '../../src/integrations/exec/ssh.js';
import { SudoExecutor } from '../../src/integrations/exec/sudo.js';
import { startLab, type LabHandle } from '../../src/lab/lab.js';
import { forensicsStep, type ForensicsFacts } from '../../src/steps/forensics.js';
import { freePort } from '../helpers/ports.js';
import { startSshd, type Sshd } from '../helpers/sshd.js';

const CLI = join(import.meta.dirname, '../../dist/cli.js');
const RULES = join(import.meta.dirname, '../../examples/sudoers.triage');
const SUDOERS = '/etc/sudoers.d/triage-test-suite';

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 60_000, maxBuffer: 32 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** Runs `sudo -n ARGV` as the SSH user; true when sudo let it run. */
function sudoAllows(user: string, argv: string[]): boolean {
  try {
    execFileSync('runuser', ['-u', user, '--', 'sudo', '-n', ...argv], { stdio: 'pipe' });
    return true;
  } catch (err) {
    const stderr = String((err as { stderr?: Buffer }).stderr ?? '');
    if (/^sudo: a password is required/m.test(stderr)) return false;
    throw new Error(`sudo ${argv.join(' ')}: ran but failed: ${stderr}`);
  }
}

let lab: LabHandle;
let sshd: Sshd;
let config: string;

beforeAll(async () => {
  if (!existsSync('/usr/bin/sudo')) throw new Error('sudo is missing: apt-get install sudo (npm test installs it as root on Debian)');
  sshd = await startSshd();
  const rules = readFileSync(RULES, 'utf8').replace(/^(Defaults:)triage\b/m, `$1${sshd.user}`).replace(/^triage\b/m, sshd.user);
  const tmp = join(mkdtempSync(join(tmpdir(), 'triage-sudo-')), 'rules');
  writeFileSync(tmp, rules);
  execFileSync('visudo', ['-cf', tmp], { stdio: 'pipe' });
  execFileSync('install', ['-m', '0440', tmp, SUDOERS]);
  // The service runs as root, as a service the SSH user cannot otherwise see; its logs are readable
  // by the SSH user (in production: a group such as adm), the process's /proc files are not.
  const port = await freePort();
  lab = await startLab({ scenario: 'db-pool', port });
  chmodSync(lab.logDir, 0o755);
  config = join(mkdtempSync(join(tmpdir(), 'triage-cfg-')), 'triage.config.yaml');
  const ssh = { port: sshd.port, user: sshd.user, keyPath: sshd.keyPath, sudo: true, hostKey: { knownHosts: sshd.knownHostsPath } };
  writeFileSync(
    config,
    stringifyYaml({
      hosts: { 'lab-1': { address: '127.0.0.1', ssh } },
      services: { checkout: { port, instances: ['lab-1'] } },
      investigation: { probePath: '/xx/checkalive', probeAttempts: 10 },
    }),
  );
  await lab.waitForFailure(45_000);
}, 90_000);

afterAll(async () => {
  rmSync(SUDOERS, { force: true });
  await lab?.stop();
  await sshd?.stop();
});

describe('sudo -n for exactly the runbook commands (SECURITY.md)', () => {
  it('investigates a process of another user over SSH: every step runs, the write-up is diagnosed', async () => {
    const res = await cli(['investigate', 'connreset', `lab-1:${lab.port}`, '--config', config, '--json']);
    expect(res.code, res.stderr).toBe(0);
    const r = JSON.parse(res.stdout) as Report;
    for (const s of r.steps) {
      if (s.id === 'history') expect(s.status).toBe('skipped');
      else expect(s, `${s.id}: ${s.error ?? ''}`).toMatchObject({ status: 'ok' });
    }
    expect(r.target.pid).toBe(lab.pid);
    expect(r.facts.fds?.softLimit).toBe(lab.nofile);
    expect(r.facts.fds?.open).toBeGreaterThanOrEqual(lab.nofile - 2);
    expect(r.facts.tcp?.closeWait.ownedByPid).toBeGreaterThan(10);
    expect(r.diagnosis.rootCause?.id).toBe('db-pool-saturation');
  });

  it('without sudo the same investigation cannot see the process', async () => {
    const plain = config.replace('.yaml', '-nosudo.yaml');
    writeFileSync(plain, readFileSync(config, 'utf8').replace(/^ +sudo: true\n/m, ''));
    const res = await cli(['investigate', 'connreset', `lab-1:${lab.port}`, '--config', plain, '--json', '--samples', '1']);
    const r = JSON.parse(res.stdout) as Report;
    expect(r.steps.find((s) => s.id === 'process')).toMatchObject({ status: 'failed', error: expect.stringMatching(/not visible to this user/) });
  });

  it('takes the forensic snapshot through the same rules', async () => {
    const exec = new SudoExecutor(
      new SshExecutor(
        { name: 'lab-1', address: '127.0.0.1', port: sshd.port, user: sshd.user, keyPath: sshd.keyPath, hostKey: { knownHosts: sshd.knownHostsPath } },
        DEFAULT_SSH_TUNING,
        () => {},
      ),
    );
    try {
      type Input = Parameters<typeof forensicsStep.collect>[0]['input'];
      const input: Input = { pid: lab.pid, port: lab.port };
      const ctx: StepContext<Input> = { input, exec, net: {} as never, signal: new AbortController().signal, commandTimeoutMs: 10_000, now: Date.now };
      const raw = await forensicsStep.collect(ctx);
      const f = (forensicsStep.analyze([{ raw, at: Date.now() }], input).facts as { forensics?: ForensicsFacts }).forensics;
      for (const s of f?.sections ?? []) expect(s, `${s.name}: ${s.error ?? ''}`).toMatchObject({ ok: true });
      const byName = Object.fromEntries((f?.sections ?? []).map((s) => [s.name, s]));
      expect(byName.sockets?.content).toMatch(new RegExp(`pid=${lab.pid},`));
      expect(byName.status?.content).toMatch(/^VmRSS:\s+\d+ kB$/m);
      expect(byName['memory map']?.content).toMatch(/^total kB/m);
      expect(byName.threads?.content).toMatch(new RegExp(`^${lab.pid}\\s`, 'm'));
    } finally {
      await exec.close();
    }
  });

  it('allows nothing else: other arguments, paths and commands are refused', () => {
    const pid = String(lab.pid);
    expect(sudoAllows(sshd.user, ['cat', '--', `/proc/${pid}/status`])).toBe(true);
    const refused: string[][] = [
      ['cat', '/etc/shadow'],
      ['cat', '--', '/etc/shadow'],
      ['cat', '--', `/proc/${pid}/environ`],
      ['cat', '--', `/proc/${pid}/../1/environ`],
      ['tail', '-n', '+1', '--', '/etc/shadow'],
      ['tail', '-n', '+1', '--', `/proc/${pid}/limits`, '/etc/shadow'],
      ['find', `/proc/${pid}/fd`, '-mindepth', '1', '-maxdepth', '1', '-printf', '%f %l\\n', '-delete'],
      ['find', `/proc/${pid}/fd`, '-mindepth', '1', '-maxdepth', '1', '-printf', '%f %l\\n', '-exec', 'id', ';'],
      ['find', '/', '-name', 'shadow'],
      ['ss', '-Hltnp', 'sport', '=', ':1', '-K'],
      ['pmap', '-x', pid, '1'],
      ['stat', '-c', '%s', '/etc/shadow'],
      ['sh', '-c', 'id'],
      ['kill', pid],
    ];
    for (const argv of refused) expect(sudoAllows(sshd.user, argv), argv.join(' ')).toBe(false);
  });
});
