import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadSettings, parseConfigText } from '../../src/config.js';
import { InputError } from '../../src/core/errors.js';

const EXAMPLE = join(import.meta.dirname, '../../examples/triage.config.yaml');

function problems(text: string): string[] {
  const r = parseConfigText(text, 'test.yaml');
  if (r.ok) throw new Error('expected the config to be refused');
  return r.problems;
}

describe('parseConfigText', () => {
  it('the example config parses, with every field it sets', () => {
    const r = parseConfigText(readFileSync(EXAMPLE, 'utf8'));
    if (!r.ok) throw new Error(r.problems.join('\n'));
    const c = r.config;
    expect(Object.keys(c.hosts).sort()).toEqual(['bastion', 'host-35', 'host-36']);
    expect(c.hosts['host-35']?.ssh).toMatchObject({ port: 22, user: 'triage', jumpHost: 'bastion', agent: false, hostKey: { knownHosts: '~/.ssh/known_hosts', acceptNew: false } });
    expect(c.hosts['host-36']?.ssh?.port).toBe(22);
    expect(c.services.checkout).toMatchObject({ port: 2133, instances: ['host-35', 'host-36'] });
    expect(c.services.checkout?.actions?.restart).toEqual(['sudo', '-n', 'systemctl', 'restart', 'checkout@{port}']);
    expect(c.investigation.probePath).toBe('/xx/checkalive');
    expect(c.prometheus?.url).toBe('http://prometheus.example.net:9090');
  });

  it('an empty document gives the defaults', () => {
    const r = parseConfigText('');
    expect(r.ok && r.config.investigation).toEqual({ samples: 2, intervalMs: 2000, stepTimeoutMs: 20_000, probeAttempts: 5, probeTimeoutMs: 3000, probePath: '/', logTailLines: 2000 });
    expect(r.ok && r.config.ssh.maxConcurrentCommands).toBe(8);
  });

  it('reports every problem of a bad config, each with its path', () => {
    const text = `
hosts:
  host-35:
    address: "a;b"
    color: blue
    ssh:
      port: "22"
      user: triage
      keyPath: /k
      jumpHost: nowhere
      hostKey: {}
  host-36:
    address: 10.0.0.36
services:
  checkout:
    port: "2133"
    instances: [host-35, host-99]
    actions:
      restart: [sh, -c, "{cmd}"]
investigation:
  samples: 0
  probePath: nope
`;
    const p = problems(text);
    const expected: RegExp[] = [
      /^hosts\.host-35\.address: expected a hostname or IP address$/,
      /^hosts\.host-35\.color: unknown field$/,
      /^hosts\.host-35\.ssh\.port: expected number, got string$/,
      /^hosts\.host-35\.ssh\.hostKey: set fingerprint, knownHosts, or \(lab only\) acceptNew: true$/,
      /^hosts\.host-35\.ssh\.jumpHost: host "nowhere" is not in hosts$/,
      /^services\.checkout\.port: expected number, got string$/,
      /^services\.checkout\.instances\.1: host "host-99" is not in hosts$/,
      /^services\.checkout\.actions\.restart\.2: unknown placeholder \{cmd\} \(allowed: host, address, port, pid, service\)$/,
      /^investigation\.samples: must be at least 1$/,
      /^investigation\.probePath: /,
    ];
    for (const re of expected) expect(p.some((x) => re.test(x)), `${re} in\n${p.join('\n')}`).toBe(true);
    expect(p).toHaveLength(expected.length);
    expect(p.every((x) => !x.includes('\n'))).toBe(true);
  });

  it('cross references alone are reported when everything else is valid', () => {
    const p = problems(`
hosts:
  a:
    address: 10.0.0.1
    ssh: { user: triage, agent: true, jumpHost: a, hostKey: { acceptNew: true } }
services:
  s: { port: 80, instances: [b] }
`);
    expect(p).toEqual(['services.s.instances.0: host "b" is not in hosts', 'hosts.a.ssh.jumpHost: a host cannot be its own jump host']);
  });

  it('ssh needs a key or the agent; user, fingerprint and address are checked', () => {
    const p = problems(`
hosts:
  good:
    address: -oProxyCommand=x
    ssh: { user: Root, hostKey: { fingerprint: MD5:xx } }
`);
    expect(p).toEqual([
      'hosts.good.address: expected a hostname or IP address',
      'hosts.good.ssh.user: expected a Unix user name',
      'hosts.good.ssh.hostKey.fingerprint: expected SHA256:<base64> as ssh-keygen -lf prints it',
      'hosts.good.ssh: set keyPath or agent: true',
    ]);
  });

  it('a bad host name is reported with the naming rule, not a generic message', () => {
    const p = problems('hosts:\n  "bad name":\n    address: 10.0.0.1\n');
    expect(p).toHaveLength(1);
    expect(p[0]).toMatch(/^hosts\.bad name: .*expected a name of letters, digits/);
  });

  it('the fields of a badly named host are still checked (every problem is listed)', () => {
    const p = problems('hosts:\n  "bad name":\n    address: "a;b"\n');
    expect(p.some((x) => /address: expected a hostname or IP address/.test(x)), p.join('\n')).toBe(true);
  });

  it('invalid YAML → one clear problem', () => {
    const p = problems('hosts:\n  a: [1, 2\n  b: {');
    expect(p).toHaveLength(1);
    expect(p[0]).toMatch(/^test\.yaml: not valid YAML: /);
    expect(p[0]).not.toContain('\n');
  });

  it('a route regex must compile and must not backtrack exponentially', () => {
    const routes = (re: string) => `routes:\n  - runbook: connreset\n    matchRegex: {alertname: ${JSON.stringify(re)}}\n`;
    expect(parseConfigText(routes('Fd(Usage|Limit)High|.*Reset.*'), 'test.yaml').ok).toBe(true);
    expect(problems(routes('(a+)+'))).toEqual([expect.stringMatching(/^routes\.0\.matchRegex\.alertname: a repetition inside a repeated group/)]);
    expect(problems(routes('([a-z]*x?)*'))).toHaveLength(1);
    expect(problems(routes('Fd(Usage'))).toEqual([expect.stringMatching(/^routes\.0\.matchRegex\.alertname: not a regular expression: /)]);
  });

  it('a top-level list or scalar is a type problem', () => {
    expect(problems('- a\n- b\n')).toEqual([expect.stringMatching(/expected object, got a list/)]);
    expect(problems('42\n')[0]).toMatch(/expected object, got number/);
  });
});

describe('loadSettings', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'triage-config-'));
    mkdirSync(join(dir, 'conf'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const write = (name: string, text: string) => {
    const file = join(dir, name);
    writeFileSync(file, text);
    return file;
  };

  it('resolves keyPath and knownHosts relative to the config file, and ~ against HOME', () => {
    const file = write(
      'conf/triage.yaml',
      `
hosts:
  a:
    address: 10.0.0.1
    ssh: { user: triage, keyPath: keys/id, hostKey: { knownHosts: ~/.ssh/known_hosts } }
  b:
    address: 10.0.0.2
    ssh: { user: triage, keyPath: ~/.ssh/id_ed25519, hostKey: { knownHosts: /etc/ssh/known } }
`,
    );
    const s = loadSettings(file, { HOME: '/home/oncall' });
    expect(s.file).toBe(file);
    expect(s.config.hosts.a?.ssh?.keyPath).toBe(join(dir, 'conf/keys/id'));
    expect(s.config.hosts.a?.ssh?.hostKey.knownHosts).toBe('/home/oncall/.ssh/known_hosts');
    expect(s.config.hosts.b?.ssh?.keyPath).toBe('/home/oncall/.ssh/id_ed25519');
    expect(s.config.hosts.b?.ssh?.hostKey.knownHosts).toBe('/etc/ssh/known');
  });

  it('no file → defaults and the environment', () => {
    const s = loadSettings(undefined, { SSH_AUTH_SOCK: '/run/agent', DATABASE_URL: 'postgres://x' });
    expect(s.file).toBeNull();
    expect(s.config.hosts).toEqual({});
    expect(s.sshAuthSock).toBe('/run/agent');
    expect(s.databaseUrl).toBe('postgres://x');
    expect(s.config.log.level).toBe('info');
  });

  it('TRIAGE_LOG_LEVEL overrides the config; an invalid one is an error', () => {
    expect(loadSettings(undefined, { TRIAGE_LOG_LEVEL: 'debug' }).config.log.level).toBe('debug');
    let err: unknown;
    try {
      loadSettings(undefined, { TRIAGE_LOG_LEVEL: 'loud' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).code).toBe('config_invalid');
    expect((err as InputError).message).toMatch(/^TRIAGE_LOG_LEVEL: expected one of trace, debug, info, warn, error, silent$/);
  });

  it('a bad file throws ConfigError with every problem', () => {
    const file = write('bad.yaml', 'investigation:\n  samples: 0\n  bogus: 1\n');
    let err: unknown;
    try {
      loadSettings(file, {});
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).code).toBe('config_invalid');
    expect((err as ConfigError).problems).toHaveLength(2);
    expect((err as ConfigError).message).toMatch(/bad\.yaml: 2 problems: /);
  });

  it('a missing file is a config_invalid InputError with the errno', () => {
    expect(() => loadSettings(join(dir, 'nope.yaml'), {})).toThrow(/cannot read config .*nope\.yaml: ENOENT/);
  });
});
