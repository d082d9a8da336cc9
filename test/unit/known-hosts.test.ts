import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkKnownHosts, fingerprintOf, knownHostsName } from '../../src/integrations/exec/known-hosts.js';

let dir: string;
/** Two real ed25519 keys: `blob` is presented by the host, `other` is someone else's. */
let pub: string;
let blob: Buffer;
let otherB64: string;
let other: Buffer;

function keygen(name: string): string {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', join(dir, name)]);
  return readFileSync(join(dir, `${name}.pub`), 'utf8').trim();
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'triage-kh-'));
  pub = keygen('host');
  blob = Buffer.from(pub.split(' ')[1] ?? '', 'base64');
  otherB64 = keygen('other').split(' ')[1] ?? '';
  other = Buffer.from(otherB64, 'base64');
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const b64 = () => blob.toString('base64');

describe('fingerprintOf', () => {
  it('equals what ssh-keygen -lf prints for a fresh key', () => {
    const printed = execFileSync('ssh-keygen', ['-lf', join(dir, 'host.pub')], { encoding: 'utf8' }).split(' ')[1];
    expect(fingerprintOf(blob)).toBe(printed);
    expect(fingerprintOf(blob)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(fingerprintOf(other)).not.toBe(printed);
  });
});

describe('knownHostsName', () => {
  it('bare host on port 22, [host]:port otherwise', () => {
    expect(knownHostsName('h', 22)).toBe('h');
    expect(knownHostsName('127.0.0.1', 2222)).toBe('[127.0.0.1]:2222');
  });
});

describe('checkKnownHosts', () => {
  it('plain [host]:port entry: match, other key mismatch, other port unknown', () => {
    const text = `[127.0.0.1]:2222 ssh-ed25519 ${b64()}\n`;
    expect(checkKnownHosts(text, '127.0.0.1', 2222, blob)).toBe('match');
    expect(checkKnownHosts(text, '127.0.0.1', 2222, other)).toBe('mismatch');
    expect(checkKnownHosts(text, '127.0.0.1', 2223, blob)).toBe('unknown');
    expect(checkKnownHosts(text, '127.0.0.1', 22, blob)).toBe('unknown');
  });

  it('bare host means port 22 only', () => {
    const text = `host-35 ssh-ed25519 ${b64()} comment here\n`;
    expect(checkKnownHosts(text, 'host-35', 22, blob)).toBe('match');
    expect(checkKnownHosts(text, 'host-35', 2222, blob)).toBe('unknown');
    expect(checkKnownHosts(text, 'host-3', 22, blob)).toBe('unknown');
  });

  it('comma lists, comments and blank lines', () => {
    const text = `# a comment\n\nalpha,10.0.0.5,[10.0.0.5]:2200 ssh-ed25519 ${b64()}\n`;
    expect(checkKnownHosts(text, 'alpha', 22, blob)).toBe('match');
    expect(checkKnownHosts(text, '10.0.0.5', 22, blob)).toBe('match');
    expect(checkKnownHosts(text, '10.0.0.5', 2200, blob)).toBe('match');
    expect(checkKnownHosts(text, 'beta', 22, blob)).toBe('unknown');
  });

  it('wildcards: * and ?; dots are literal', () => {
    const text = `*.example.com ssh-ed25519 ${b64()}\nweb?.lan ssh-ed25519 ${b64()}\n`;
    expect(checkKnownHosts(text, 'db.example.com', 22, blob)).toBe('match');
    expect(checkKnownHosts(text, 'a.b.example.com', 22, blob)).toBe('match');
    expect(checkKnownHosts(text, 'example.com', 22, blob)).toBe('unknown');
    expect(checkKnownHosts(text, 'dbXexampleXcom', 22, blob)).toBe('unknown');
    expect(checkKnownHosts(text, 'web1.lan', 22, blob)).toBe('match');
    expect(checkKnownHosts(text, 'web12.lan', 22, blob)).toBe('unknown');
    expect(checkKnownHosts(text, 'db.example.com', 22, other)).toBe('mismatch');
  });

  it('negation excludes a host a wildcard would match', () => {
    const text = `*.example.com,!evil.example.com ssh-ed25519 ${b64()}\n`;
    expect(checkKnownHosts(text, 'good.example.com', 22, blob)).toBe('match');
    expect(checkKnownHosts(text, 'evil.example.com', 22, blob)).toBe('unknown');
  });

  it('hashed entry made by ssh-keygen -H', () => {
    const file = join(dir, 'known_hosts');
    writeFileSync(file, `[127.0.0.1]:2222 ssh-ed25519 ${b64()}\nhost-35 ssh-ed25519 ${b64()}\n`);
    execFileSync('ssh-keygen', ['-H', '-f', file], { stdio: 'ignore' });
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain('127.0.0.1');
    expect(text.split('\n').filter((l) => l.startsWith('|1|'))).toHaveLength(2);
    expect(checkKnownHosts(text, '127.0.0.1', 2222, blob)).toBe('match');
    expect(checkKnownHosts(text, 'host-35', 22, blob)).toBe('match');
    expect(checkKnownHosts(text, '127.0.0.1', 2222, other)).toBe('mismatch');
    expect(checkKnownHosts(text, '127.0.0.1', 2223, blob)).toBe('unknown');
    expect(checkKnownHosts(text, 'host-36', 22, blob)).toBe('unknown');
  });

  it('hashed entry computed by hand: HMAC-SHA1 of the name keyed by the salt', () => {
    const salt = randomBytes(20);
    const hash = createHmac('sha1', salt).update('[db-1]:2200').digest('base64');
    const text = `|1|${salt.toString('base64')}|${hash} ssh-ed25519 ${b64()}\n`;
    expect(checkKnownHosts(text, 'db-1', 2200, blob)).toBe('match');
    expect(checkKnownHosts(text, 'db-1', 22, blob)).toBe('unknown');
    expect(checkKnownHosts('|1|broken ssh-ed25519 x\n', 'db-1', 2200, blob)).toBe('unknown');
  });

  it('@revoked key is refused even when another line lists it', () => {
    const text = `@revoked * ssh-ed25519 ${b64()}\nhost-35 ssh-ed25519 ${b64()}\n`;
    expect(checkKnownHosts(text, 'host-35', 22, blob)).toBe('mismatch');
    // a revoked line for another key does not make a listed key unknown
    const text2 = `@revoked * ssh-ed25519 ${otherB64}\nhost-35 ssh-ed25519 ${b64()}\n`;
    expect(checkKnownHosts(text2, 'host-35', 22, blob)).toBe('match');
    // a revoked key alone does not make the host "listed"
    expect(checkKnownHosts(`@revoked * ssh-ed25519 ${otherB64}\n`, 'host-35', 22, blob)).toBe('unknown');
  });

  it('@cert-authority lines are ignored', () => {
    const text = `@cert-authority *.example.com ssh-ed25519 ${otherB64}\n`;
    expect(checkKnownHosts(text, 'db.example.com', 22, blob)).toBe('unknown');
  });

  it('mismatch when listed only with other keys, match when one of several keys is ours', () => {
    const text = `host-35 ssh-ed25519 ${otherB64}\n`;
    expect(checkKnownHosts(text, 'host-35', 22, blob)).toBe('mismatch');
    expect(checkKnownHosts(`${text}host-35 ssh-ed25519 ${b64()}\n`, 'host-35', 22, blob)).toBe('match');
    expect(checkKnownHosts('', 'host-35', 22, blob)).toBe('unknown');
  });

  it('pattern metacharacters in a host are literal', () => {
    const text = `a+b ssh-ed25519 ${b64()}\n`;
    expect(checkKnownHosts(text, 'aab', 22, blob)).toBe('unknown');
    expect(checkKnownHosts(text, 'a+b', 22, blob)).toBe('match');
  });
});
