import { spawn, spawnSync } from 'node:child_process';
import { statSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startSshd, TEST_USER, type Sshd } from '../helpers/sshd.js';

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function sshArgs(s: Sshd, key: string, ...cmd: string[]): string[] {
  return [
    '-i', key,
    '-o', 'IdentitiesOnly=yes',
    '-o', `UserKnownHostsFile=${s.knownHostsPath}`,
    '-o', 'GlobalKnownHostsFile=/dev/null',
    '-o', 'StrictHostKeyChecking=yes',
    '-o', 'BatchMode=yes',
    '-o', 'ConnectTimeout=5',
    '-F', '/dev/null',
    '-p', String(s.port),
    `${s.user}@${s.host}`,
    ...cmd,
  ];
}

/** Command lines of the test user's processes. */
function userProcesses(): string {
  return spawnSync('ps', ['-u', TEST_USER, '-o', 'args='], { encoding: 'utf8' }).stdout;
}

function ssh(args: string[], onSpawn?: () => void): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const child = spawn('ssh', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, ms: Date.now() - t0 }));
    onSpawn?.();
  });
}

describe('sshd harness', () => {
  let s: Sshd;

  beforeAll(async () => {
    s = await startSshd();
  });

  afterAll(async () => {
    await s?.stop();
  });

  it('exposes a usable handle', () => {
    expect(s.host).toBe('127.0.0.1');
    expect(s.user).toBe(TEST_USER);
    expect(s.port).toBeGreaterThan(0);
    expect(s.pid).toBeGreaterThan(0);
    expect(statSync(s.keyPath).mode & 0o777).toBe(0o600);
    expect(readFileSync(s.knownHostsPath, 'utf8')).toMatch(
      new RegExp(`^\\[127\\.0\\.0\\.1\\]:${s.port} ssh-ed25519 AAAA\\S+\\n$`),
    );
    expect(s.hostKeyFingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    const kh = spawnSync('ssh-keygen', ['-lf', s.knownHostsPath], { encoding: 'utf8' }).stdout;
    expect(kh.split(' ')[1]).toBe(s.hostKeyFingerprint);
  });

  it('logs in with the authorized key and strict host key checking', async () => {
    const r = await ssh(sshArgs(s, s.keyPath, 'id', '-un'));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(TEST_USER);
  });

  it('refuses the other key', async () => {
    const r = await ssh(sshArgs(s, s.otherKeyPath, 'id', '-un'));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('Permission denied');
    expect(r.stdout).toBe('');
  });

  it('kill() drops an established session promptly', async () => {
    // Start a long session, wait until the remote command really runs, then kill().
    const sleeper = `sleep 30.${s.port}`; // unique per sshd: other test files may run in parallel
    const running = ssh(sshArgs(s, s.keyPath, `echo started; exec ${sleeper}`));
    const t0 = Date.now();
    await new Promise<void>((resolve, reject) => {
      const check = setInterval(() => {
        if (userProcesses().includes(sleeper)) {
          clearInterval(check);
          resolve();
        } else if (Date.now() - t0 > 10_000) {
          clearInterval(check);
          reject(new Error('remote sleep never started'));
        }
      }, 50);
    });
    const killedAt = Date.now();
    s.kill();
    const r = await running;
    const elapsed = Date.now() - killedAt;
    expect(r.stdout).toContain('started');
    expect(r.code).not.toBe(0);
    expect(elapsed).toBeLessThan(2_000);
    // Nothing of the session survives (no orphaned remote command).
    await new Promise((res) => setTimeout(res, 100));
    expect(userProcesses()).not.toContain(sleeper);
  });

  it('stop() is idempotent', async () => {
    await s.stop();
    await s.stop();
  });
});
