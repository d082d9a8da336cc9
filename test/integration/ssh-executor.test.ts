import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TriageError } from '../../src/core/errors.js';
import { runSteps } from '../../src/engine/run.js';
import { SshExecutor, type SshEndpoint } from '../../src/integrations/exec/ssh.js';
import { NodeNet } from '../../src/integrations/net/node-net.js';
import { connreset } from '../../src/runbooks/connreset.js';
import { startSshd, type Sshd } from '../helpers/sshd.js';

let sshd: Sshd;

beforeAll(async () => {
  sshd = await startSshd({ maxSessions: 10 });
});
afterAll(async () => {
  await sshd?.stop();
});

function endpoint(over: Partial<SshEndpoint> = {}): SshEndpoint {
  return { name: 'lab', address: sshd.host, port: sshd.port, user: sshd.user, keyPath: sshd.keyPath, hostKey: { knownHosts: sshd.knownHostsPath }, ...over };
}

async function rejection(p: Promise<unknown>): Promise<TriageError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TriageError);
  return err as TriageError;
}

function remoteProcesses(pattern: string): string[] {
  try {
    return execFileSync('pgrep', ['-u', sshd.user, '-f', pattern], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

describe('SshExecutor against a real sshd', () => {
  it('runs argv with every argument arriving intact, however hostile', async () => {
    const ex = new SshExecutor(endpoint());
    try {
      const hostile = [`a'b"c`, '$(id)', '`id`', 'x; touch /tmp/pwned-triage', 'new\nline', '--help', '*', '~', '\\', 'é ünïcode'];
      const res = await ex.run(['printf', '%s\\0', ...hostile]);
      expect(res.exitCode).toBe(0);
      expect(res.stdout.split('\0').slice(0, -1)).toEqual(hostile);
      const who = await ex.run(['id', '-un']);
      expect(who.stdout.trim()).toBe(sshd.user);
    } finally {
      await ex.close();
    }
  });

  it('reuses one connection for concurrent commands, bounded below MaxSessions', async () => {
    const ex = new SshExecutor(endpoint(), { maxConcurrentCommands: 8 });
    try {
      const t0 = performance.now();
      const all = Promise.all(Array.from({ length: 24 }, () => ex.run(['sleep', '0.3'])));
      await new Promise((r) => setTimeout(r, 400));
      const conns = execFileSync('ss', ['-Htn', 'state', 'established', `( dport = :${sshd.port} )`], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
      const results = await all;
      const elapsed = performance.now() - t0;
      expect(results.every((r) => r.exitCode === 0)).toBe(true);
      expect(conns).toHaveLength(1);
      // 24 commands of 0.3 s on at most 8 channels need at least 3 rounds.
      expect(elapsed).toBeGreaterThanOrEqual(900);
    } finally {
      await ex.close();
    }
  });

  it('caps output and marks it truncated', async () => {
    const ex = new SshExecutor(endpoint(), { maxOutputBytes: 64 * 1024 });
    try {
      const res = await ex.run(['head', '-c', '5000000', '/dev/zero']);
      expect(res.truncated).toBe(true);
      expect(res.stdout.length).toBe(64 * 1024);
    } finally {
      await ex.close();
    }
  });

  it('kills a command that hangs past its deadline, remotely too', async () => {
    const ex = new SshExecutor(endpoint());
    try {
      const marker = `sleep 37.${sshd.port}`;
      const t0 = Date.now();
      const err = await rejection(ex.run(['sleep', `37.${sshd.port}`], { timeoutMs: 1000 }));
      expect(err.code).toBe('command_timeout');
      expect(Date.now() - t0).toBeLessThan(5000);
      await new Promise((r) => setTimeout(r, 300));
      expect(remoteProcesses(marker)).toEqual([]);
      // The connection is still usable afterwards.
      expect((await ex.run(['true'])).exitCode).toBe(0);
    } finally {
      await ex.close();
    }
  });

  it('refuses a key the server does not accept, with a clear reason', async () => {
    const ex = new SshExecutor(endpoint({ keyPath: sshd.otherKeyPath }));
    const err = await rejection(ex.run(['true']));
    expect(err.code).toBe('ssh_auth');
    expect(err.message).toMatch(/refused/);
    await ex.close();
  });

  it('refuses an unknown host key and a mismatching pinned fingerprint', async () => {
    const empty = join(sshd.dir, 'empty_known_hosts');
    writeFileSync(empty, '');
    const unknown = await rejection(new SshExecutor(endpoint({ hostKey: { knownHosts: empty } })).run(['true']));
    expect(unknown.code).toBe('ssh_host_key');
    expect(unknown.message).toMatch(/not in .*empty_known_hosts/);

    const pinned = await rejection(
      new SshExecutor(endpoint({ hostKey: { fingerprint: 'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' } })).run(['true']),
    );
    expect(pinned.code).toBe('ssh_host_key');
    expect(pinned.message).toMatch(/does not match/);

    const ok = new SshExecutor(endpoint({ hostKey: { fingerprint: sshd.hostKeyFingerprint } }));
    expect((await ok.run(['true'])).exitCode).toBe(0);
    await ok.close();

    const warnings: string[] = [];
    const lab = new SshExecutor(endpoint({ hostKey: { knownHosts: empty, acceptNew: true } }), {}, (m) => warnings.push(m));
    expect((await lab.run(['true'])).exitCode).toBe(0);
    expect(warnings.join()).toMatch(/accepting unverified host key/);
    await lab.close();
  });

  it('turns a connection killed mid-command into a failed command, not a crash', async () => {
    const local = await startSshd();
    const ex = new SshExecutor({ ...endpoint(), port: local.port, keyPath: local.keyPath, hostKey: { knownHosts: local.knownHostsPath } }, { keepaliveIntervalMs: 500 });
    try {
      expect((await ex.run(['true'])).exitCode).toBe(0);
      const pending = ex.run(['sleep', '20'], { timeoutMs: 30_000 });
      setTimeout(() => local.kill(), 300);
      const err = await rejection(pending);
      expect(err.code).toBe('ssh_dropped');
      // sshd is gone: the next command fails with a reason instead of hanging or crashing.
      const again = await rejection(ex.run(['true']));
      expect(again.code).toMatch(/^ssh_(connect|dropped)$/);
    } finally {
      await ex.close();
      await local.stop();
    }
  });

  it('reports a wrong key as a clear error on every step of a runbook, and the run completes', async () => {
    const ex = new SshExecutor(endpoint({ keyPath: sshd.otherKeyPath }));
    const result = await runSteps(
      {
        steps: connreset.steps,
        samples: 1,
        intervalMs: 10,
        stepTimeoutMs: 10_000,
        commandTimeoutMs: 5000,
        buildInput: (step, facts) =>
          connreset.buildInput(
            { host: 'lab', address: '127.0.0.1', port: 1, service: null, probePath: '/', probeAttempts: 1, probeTimeoutMs: 500, logTailLines: 10, accessLogs: [], errorLogs: [] },
            step,
            facts,
          ),
      },
      { exec: ex, net: new NodeNet() },
    );
    await ex.close();
    const byId = Object.fromEntries(result.steps.map((s) => [s.id, s]));
    expect(byId.process?.status).toBe('failed');
    expect(byId.process?.errorCode).toBe('ssh_auth');
    expect(byId['kernel-counters']?.errorCode).toBe('ssh_auth');
    expect(byId.fds?.status).toBe('skipped');
    expect(byId.fds?.error).toMatch(/PID/);
    expect(byId['probe-http']?.status).toBe('ok');
  });
});

describe('SshExecutor through a jump host', () => {
  it('tunnels to the target through the bastion', async () => {
    const target = await startSshd();
    try {
      const ex = new SshExecutor({
        name: 'target',
        address: '127.0.0.1',
        port: target.port,
        user: target.user,
        keyPath: target.keyPath,
        hostKey: { knownHosts: target.knownHostsPath },
        jump: endpoint({ name: 'bastion' }),
      });
      try {
        const slow = ex.run(['sleep', '0.5']);
        await new Promise((r) => setTimeout(r, 250));
        // The target's SSH client is the bastion's sshd, not this process.
        const clients = execFileSync('ss', ['-Htnp', 'state', 'established', `( dport = :${target.port} )`], { encoding: 'utf8' });
        expect(clients).toMatch(/"sshd/);
        expect(clients).not.toContain(`pid=${process.pid},`);
        expect((await slow).exitCode).toBe(0);
        expect((await ex.run(['id', '-un'])).stdout.trim()).toBe(target.user);
      } finally {
        await ex.close();
      }
    } finally {
      await target.stop();
    }
  });
});
