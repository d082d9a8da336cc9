import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '../..');
const CLI = join(ROOT, 'dist/cli.js');
const EXAMPLE = join(ROOT, 'examples/triage.config.yaml');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

let home: string;

function triage(args: string[], timeoutMs = 30_000): Promise<Run> {
  return new Promise((resolve) =>
    execFile(process.execPath, [CLI, ...args], { cwd: ROOT, timeout: timeoutMs, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home } }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : -1) : 0, stdout, stderr }),
    ),
  );
}

const stderrLines = (r: Run) => r.stderr.split('\n').filter((l) => l !== '');

/** Bad input: exit 2 and exactly one line on stderr with the reason. */
function expectRefused(r: Run, reason: RegExp, prefix = 'triage: '): void {
  expect(r.code, r.stderr).toBe(2);
  expect(stderrLines(r), r.stderr).toHaveLength(1);
  expect(r.stderr.startsWith(prefix), r.stderr).toBe(true);
  expect(r.stderr).toMatch(reason);
  expect(r.stdout).toBe('');
}

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npx tsc -p tsconfig.build.json (npm test builds it)`);
  home = mkdtempSync(join(tmpdir(), 'triage-cli-'));
});
afterAll(() => rmSync(home, { recursive: true, force: true }));

describe('triage CLI: bad input exits 2 with one line on stderr', () => {
  it('port out of range', async () => {
    expectRefused(await triage(['investigate', 'connreset', 'host-35:99999']), /port 99999 is out of range/);
  });

  it('hostile host', async () => {
    expectRefused(await triage(['investigate', 'connreset', 'host-35;reboot:2133']), /"host-35;reboot" is not a host name/);
  });

  it('unknown runbook', async () => {
    expectRefused(await triage(['investigate', 'nope', 'host-35:2133']), /unknown runbook "nope": known runbooks: connreset/);
  });

  it('no config: the host is unknown', async () => {
    expectRefused(await triage(['investigate', 'connreset', 'host-35:2133']), /host "host-35" is not in the inventory: pass --config FILE, or --local/);
  });

  it('a host not in the inventory', async () => {
    expectRefused(await triage(['investigate', 'connreset', 'host-99:2133', '--config', EXAMPLE]), /host "host-99" is not in the inventory \(known: host-35, host-36, bastion\)/);
  });

  it('--local with an address that is not this machine', async () => {
    expectRefused(await triage(['investigate', 'connreset', '10.255.255.1:2133', '--local']), /--local runs commands on this machine, but 10\.255\.255\.1 is not one of its addresses/);
  });

  it('--samples 0', async () => {
    expectRefused(await triage(['investigate', 'connreset', 'host-35:2133', '--samples', '0']), /--samples must be between 1 and 10/, 'error: ');
  });

  it('--interval abc', async () => {
    expectRefused(await triage(['investigate', 'connreset', 'host-35:2133', '--interval', 'abc']), /--interval must be a whole number/, 'error: ');
  });

  it('config check of a missing file', async () => {
    expectRefused(await triage(['config', 'check', '/nonexistent']), /cannot read \/nonexistent: ENOENT/);
  });

  it('an invalid config given to investigate', async () => {
    const bad = join(home, 'bad-for-investigate.yaml');
    writeFileSync(bad, 'hosts:\n  host-35:\n    address: "a;b"\n');
    expectRefused(await triage(['investigate', 'connreset', 'host-35:2133', '--config', bad]), /bad-for-investigate\.yaml: 1 problem: hosts\.host-35\.address/);
  });
});

describe('triage CLI: nothing runs on bad input', () => {
  let server: Server;
  let port = 0;
  let connections = 0;
  const sockets = new Set<Socket>();
  let config = '';

  beforeAll(async () => {
    server = createServer((s) => {
      connections++;
      sockets.add(s);
      s.on('error', () => {});
      s.destroy();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const addr = server.address();
    if (addr === null || typeof addr === 'string') throw new Error('no port');
    port = addr.port;
    const key = join(home, 'id_ed25519');
    writeFileSync(key, 'not really a key\n');
    config = join(home, 'triage.yaml');
    writeFileSync(
      config,
      `hosts:
  host-35:
    address: 127.0.0.1
    ssh:
      port: ${port}
      user: triage
      keyPath: ${key}
      hostKey: { acceptNew: true }
services:
  checkout: { port: ${port}, instances: [host-35] }
investigation: { probeAttempts: 1, probeTimeoutMs: 500, stepTimeoutMs: 3000, samples: 1 }
ssh: { connectTimeoutMs: 2000, commandTimeoutMs: 2000 }
`,
    );
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it.each([
    ['bad port', ['investigate', 'connreset', 'host-35:99999']],
    ['hostile host', ['investigate', 'connreset', 'host-35;reboot:2133']],
    ['command substitution', ['investigate', 'connreset', '$(id):2133']],
    ['unknown runbook', ['investigate', 'nope', 'host-35:2133']],
    ['unknown host', ['investigate', 'connreset', 'host-99:2133']],
  ])('%s: exit 2 and zero connections to the host', async (_why, args) => {
    const before = connections;
    const r = await triage([...args, '--config', config]);
    expect(r.code, r.stderr).toBe(2);
    expect(stderrLines(r)).toHaveLength(1);
    await new Promise((res) => setTimeout(res, 50));
    expect(connections - before).toBe(0);
  });

  it('control: a valid target with the same config does connect (so zero above means something)', async () => {
    const before = connections;
    const r = await triage(['investigate', 'connreset', `host-35:${port}`, '--config', config, '--json'], 60_000);
    expect(connections - before).toBeGreaterThan(0);
    expect(r.code, r.stderr).toBe(1); // the key is not a key: could not run, not bad input
  });
});

describe('triage CLI: config check, runbooks, help', () => {
  it('a good file → exit 0 and a summary', async () => {
    const r = await triage(['config', 'check', EXAMPLE]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${EXAMPLE}: ok (3 hosts, 1 services)\n`);
    expect(r.stderr).toBe('');
  });

  it('a bad file → exit 2 and every problem on its own line', async () => {
    const bad = join(home, 'bad.yaml');
    writeFileSync(
      bad,
      `hosts:
  h1:
    address: "a;b"
    ssh: { user: triage, agent: true, jumpHost: nope, hostKey: {} }
services:
  s:
    port: "80"
    instances: [ghost]
    actions: { restart: ["{cmd}"] }
`,
    );
    const r = await triage(['config', 'check', bad]);
    expect(r.code).toBe(2);
    const lines = stderrLines(r);
    expect(lines).toEqual(
      expect.arrayContaining([
        'hosts.h1.address: expected a hostname or IP address',
        'hosts.h1.ssh.hostKey: set fingerprint, knownHosts, or (lab only) acceptNew: true',
        'hosts.h1.ssh.jumpHost: host "nope" is not in hosts',
        'services.s.port: expected number, got string',
        'services.s.instances.0: host "ghost" is not in hosts',
        'services.s.actions.restart.0: unknown placeholder {cmd} (allowed: host, address, port, pid, service)',
      ]),
    );
    expect(lines.at(-1)).toBe(`triage: ${bad}: 6 problems`);
    expect(lines).toHaveLength(7);
  });

  it('invalid YAML → one problem line', async () => {
    const bad = join(home, 'broken.yaml');
    writeFileSync(bad, 'hosts: [1, 2\n');
    const r = await triage(['config', 'check', bad]);
    expect(r.code).toBe(2);
    const lines = stderrLines(r);
    expect(lines[0]).toMatch(new RegExp(`^${bad.replace(/[.]/g, '\\.')}: not valid YAML: `));
    expect(lines.at(-1)).toBe(`triage: ${bad}: 1 problem`);
    expect(lines).toHaveLength(2);
  });

  it('runbooks lists connreset', async () => {
    const r = await triage(['runbooks']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^connreset\s+\S.*\(steps: probe-http, process, fds, tcp-states, kernel-counters, logs, db-stats/m);
  });

  it('--help exits 0 and shows the commands', async () => {
    const r = await triage(['--help']);
    expect(r.code).toBe(0);
    for (const c of ['investigate', 'config', 'runbooks', 'lab', 'demo']) expect(r.stdout).toContain(c);
    const sub = await triage(['investigate', '--help']);
    expect(sub.code).toBe(0);
    expect(sub.stdout).toContain('--local');
  });
});
