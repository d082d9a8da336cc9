import { createHash, createHmac } from 'node:crypto';

/** `SHA256:<base64 without padding>`, as `ssh-keygen -lf` prints a key's fingerprint. */
export function fingerprintOf(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

/** The host pattern known_hosts uses: `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function patternMatches(pattern: string, name: string): boolean {
  if (pattern.startsWith('|1|')) {
    const [, , salt, hash] = pattern.split('|');
    if (!salt || !hash) return false;
    return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash;
  }
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
  return re.test(name);
}

/**
 * What known_hosts says about a presented key: `match`, `mismatch` (the host is listed with other
 * keys: possible man in the middle) or `unknown` (the host is not listed). Negated patterns and
 * @revoked markers are honoured; @cert-authority lines are ignored.
 */
export function checkKnownHosts(text: string, host: string, port: number, keyBlob: Buffer): 'match' | 'mismatch' | 'unknown' {
  const name = knownHostsName(host, port);
  const presented = keyBlob.toString('base64');
  let listed = false;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    let fields = line.split(/\s+/);
    let marker: string | null = null;
    if (fields[0]?.startsWith('@')) {
      marker = fields[0];
      fields = fields.slice(1);
    }
    const [patterns, , key] = fields;
    if (!patterns || !key || marker === '@cert-authority') continue;
    const list = patterns.split(',');
    if (list.some((p) => p.startsWith('!') && patternMatches(p.slice(1), name))) continue;
    if (!list.some((p) => !p.startsWith('!') && patternMatches(p, name))) continue;
    if (marker === '@revoked') {
      if (key === presented) return 'mismatch';
      continue;
    }
    listed = true;
    if (key === presented) return 'match';
  }
  return listed ? 'mismatch' : 'unknown';
}
