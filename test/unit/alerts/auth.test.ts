import { describe, it, expect } from 'vitest';
import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { WebhookAuthSchema, type WebhookAuth } from '../../../src/config.js';
import { checkAuth, getHeader, safeEqual } from '../../../src/integrations/alerts/auth.js';
import type { AuthResult } from '../../../src/integrations/alerts/types.js';

const NOW_MS = Date.UTC(2026, 10, 25, 4, 50, 0);
const NOW_S = Math.floor(NOW_MS / 1000);
const BODY = Buffer.from('{"version":"1","status":"firing","alerts":[]}');

const bearer = WebhookAuthSchema.parse({ type: 'bearer', token: 's3cret-token-value' });
const basic = WebhookAuthSchema.parse({ type: 'basic', username: 'alertmanager', password: 'pa:ss wörd' });
const hmac = WebhookAuthSchema.parse({ type: 'hmac', secret: 'grafana-hmac-secret', maxSkewSec: 300 });

type Headers = Record<string, string | string[] | undefined>;
const req = (headers: Headers, rawBody = BODY, nowMs = NOW_MS) => ({ headers, rawBody, nowMs });
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const sign = (secret: string, ts: number | string, body: Buffer) => createHmac('sha256', secret).update(`${ts}:`).update(body).digest('hex');

function refused(r: AuthResult, secrets: string[] = []): string {
  if (r.ok) throw new Error('expected a refusal');
  for (const s of secrets) expect(r.reason).not.toContain(s);
  expect(r.reason.length).toBeLessThan(200);
  return r.reason;
}

describe('checkAuth: bearer', () => {
  const secrets = ['s3cret-token-value'];
  it('accepts the token, with any case of the header name and scheme', () => {
    expect(checkAuth(bearer, req({ authorization: 'Bearer s3cret-token-value' }))).toEqual({ ok: true });
    expect(checkAuth(bearer, req({ Authorization: 'bearer s3cret-token-value' }))).toEqual({ ok: true });
    expect(checkAuth(bearer, req({ AUTHORIZATION: 'BEARER  s3cret-token-value' }))).toEqual({ ok: true });
  });
  it('refuses a wrong token of the same length', () => {
    expect(refused(checkAuth(bearer, req({ authorization: 'Bearer s3cret-token-valuX' })), secrets)).toBe('wrong bearer token');
  });
  it('refuses a wrong token of a different length (shorter, longer, prefix)', () => {
    for (const t of ['x', 's3cret', 's3cret-token-value-and-more', 'A'.repeat(5000)]) {
      expect(refused(checkAuth(bearer, req({ authorization: `Bearer ${t}` })), secrets)).toBe('wrong bearer token');
    }
  });
  it('refuses a missing header, an empty one, another scheme and a repeated header', () => {
    expect(refused(checkAuth(bearer, req({})), secrets)).toBe('missing Authorization header');
    expect(refused(checkAuth(bearer, req({ authorization: undefined })), secrets)).toBe('missing Authorization header');
    expect(refused(checkAuth(bearer, req({ authorization: '' })), secrets)).toBe('Authorization header is not Bearer credentials');
    expect(refused(checkAuth(bearer, req({ authorization: 'Bearer' })), secrets)).toBe('Authorization header is not Bearer credentials');
    expect(refused(checkAuth(bearer, req({ authorization: `Basic ${b64('a:s3cret-token-value')}` })), secrets)).toBe('Authorization header is not Bearer credentials');
    expect(refused(checkAuth(bearer, req({ authorization: 's3cret-token-value' })), secrets)).toBe('Authorization header is not Bearer credentials');
    expect(refused(checkAuth(bearer, req({ authorization: ['Bearer s3cret-token-value', 'Bearer x'] })), secrets)).toBe('more than one Authorization header');
    expect(refused(checkAuth(bearer, req({ authorization: 'Bearer s3cret-token-value', Authorization: 'Bearer s3cret-token-value' })), secrets)).toBe('more than one Authorization header');
  });
  it('does not echo what was sent', () => {
    const sent = 'attacker-visible-guess';
    expect(refused(checkAuth(bearer, req({ authorization: `Bearer ${sent}` })), [sent])).toBe('wrong bearer token');
  });
});

describe('checkAuth: basic', () => {
  const secrets = ['pa:ss wörd'];
  it('accepts user and password (the password may contain ":" and non-ASCII)', () => {
    expect(checkAuth(basic, req({ authorization: `Basic ${b64('alertmanager:pa:ss wörd')}` }))).toEqual({ ok: true });
    expect(checkAuth(basic, req({ Authorization: `basic ${b64('alertmanager:pa:ss wörd')}` }))).toEqual({ ok: true });
  });
  it('refuses a wrong password, a wrong user, and either of a different length', () => {
    for (const cred of ['alertmanager:pa:ss word', 'alertmanagers:pa:ss wörd', 'am:pa:ss wörd', 'alertmanager:p', 'alertmanager:', ':pa:ss wörd']) {
      expect(refused(checkAuth(basic, req({ authorization: `Basic ${b64(cred)}` })), secrets)).toBe('wrong username or password');
    }
  });
  it('refuses malformed credentials and a missing header', () => {
    expect(refused(checkAuth(basic, req({})), secrets)).toBe('missing Authorization header');
    expect(refused(checkAuth(basic, req({ authorization: 'Basic !!not-base64!!' })), secrets)).toBe('Basic credentials are not base64');
    expect(refused(checkAuth(basic, req({ authorization: `Basic ${b64('no-colon')}` })), secrets)).toBe('Basic credentials have no "user:password" form');
    expect(refused(checkAuth(basic, req({ authorization: 'Bearer pa:ss' })), secrets)).toBe('Authorization header is not Basic credentials');
  });
});

describe('checkAuth: hmac (Grafana)', () => {
  const secrets = ['grafana-hmac-secret'];
  const good = (ts = NOW_S, body = BODY): Headers => ({
    'x-grafana-alerting-signature': sign('grafana-hmac-secret', ts, body),
    'x-grafana-alerting-signature-timestamp': String(ts),
  });

  it('uses the config defaults for header names and skew', () => {
    expect(hmac).toMatchObject({ header: 'X-Grafana-Alerting-Signature', timestampHeader: 'X-Grafana-Alerting-Signature-Timestamp', maxSkewSec: 300 });
  });

  it('accepts a fresh signature of "<timestamp>:" + body, hex in either case', () => {
    expect(checkAuth(hmac, req(good()))).toEqual({ ok: true });
    const upper = good();
    upper['x-grafana-alerting-signature'] = String(upper['x-grafana-alerting-signature']).toUpperCase();
    expect(checkAuth(hmac, req(upper))).toEqual({ ok: true });
  });

  it('looks the configured header names up case-insensitively', () => {
    const custom = WebhookAuthSchema.parse({ type: 'hmac', secret: 'k', header: 'X-Sig', timestampHeader: 'X-Ts' });
    expect(checkAuth(custom, req({ 'x-sig': sign('k', NOW_S, BODY), 'X-TS': String(NOW_S) }))).toEqual({ ok: true });
  });

  it('accepts a timestamp within the skew on either side', () => {
    expect(checkAuth(hmac, req(good(NOW_S - 300)))).toEqual({ ok: true });
    expect(checkAuth(hmac, req(good(NOW_S + 299)))).toEqual({ ok: true });
  });

  it('refuses a replayed request: correctly signed, but the timestamp is too old', () => {
    const old = NOW_S - 301;
    const reason = refused(checkAuth(hmac, req(good(old))), secrets);
    expect(reason).toBe('X-Grafana-Alerting-Signature-Timestamp is 301 s away from now (at most 300): stale or replayed');
  });

  it('refuses a timestamp from the future beyond the skew', () => {
    expect(refused(checkAuth(hmac, req(good(NOW_S + 3600))), secrets)).toMatch(/3600 s away from now/);
  });

  it('refuses a tampered body', () => {
    const tampered = Buffer.from(BODY.toString().replace('firing', 'resolved'));
    expect(refused(checkAuth(hmac, req(good(), tampered)), secrets)).toBe('X-Grafana-Alerting-Signature does not match the body');
  });

  it('refuses a signature made for another timestamp (the timestamp is signed too)', () => {
    const h = good();
    h['x-grafana-alerting-signature-timestamp'] = String(NOW_S - 1);
    expect(refused(checkAuth(hmac, req(h)), secrets)).toBe('X-Grafana-Alerting-Signature does not match the body');
  });

  it('refuses a signature with another secret, a truncated one and a body-only one', () => {
    const h1 = { ...good(), 'x-grafana-alerting-signature': sign('other', NOW_S, BODY) };
    const h2 = { ...good(), 'x-grafana-alerting-signature': sign('grafana-hmac-secret', NOW_S, BODY).slice(0, 10) };
    const h3 = { ...good(), 'x-grafana-alerting-signature': createHmac('sha256', 'grafana-hmac-secret').update(BODY).digest('hex') };
    for (const h of [h1, h2, h3]) expect(refused(checkAuth(hmac, req(h)), secrets)).toBe('X-Grafana-Alerting-Signature does not match the body');
  });

  it('refuses missing or malformed headers', () => {
    expect(refused(checkAuth(hmac, req({})), secrets)).toBe('missing X-Grafana-Alerting-Signature header');
    expect(refused(checkAuth(hmac, req({ 'x-grafana-alerting-signature': 'ab' })), secrets)).toBe('missing X-Grafana-Alerting-Signature-Timestamp header');
    expect(refused(checkAuth(hmac, req({ ...good(), 'x-grafana-alerting-signature-timestamp': '2026-11-25' })), secrets)).toBe(
      'X-Grafana-Alerting-Signature-Timestamp is not a unix timestamp in seconds',
    );
    expect(refused(checkAuth(hmac, req({ ...good(), 'x-grafana-alerting-signature': 'zz-not-hex' })), secrets)).toBe('X-Grafana-Alerting-Signature is not a hex signature');
    expect(refused(checkAuth(hmac, req({ ...good(), 'x-grafana-alerting-signature': '' })), secrets)).toBe('X-Grafana-Alerting-Signature is not a hex signature');
  });

  it('refuses a millisecond timestamp rather than misreading it', () => {
    expect(refused(checkAuth(hmac, req(good(NOW_MS))), secrets)).toBe('X-Grafana-Alerting-Signature-Timestamp is not a unix timestamp in seconds');
    expect(refused(checkAuth(hmac, req(good(Math.floor(NOW_MS / 10)))), secrets)).toMatch(/s away from now \(at most 300\): stale or replayed$/);
  });
});

describe('helpers', () => {
  it('safeEqual compares any lengths', () => {
    expect(safeEqual('a', 'a')).toBe(true);
    expect(safeEqual('a', 'ab')).toBe(false);
    expect(safeEqual('', '')).toBe(true);
    expect(safeEqual(Buffer.from('x'), 'x')).toBe(true);
  });
  it('getHeader reports missing, repeated and single values', () => {
    expect(getHeader({ 'X-A': 'v' }, 'x-a')).toEqual({ value: 'v' });
    expect(getHeader({ 'x-a': ['v'] }, 'X-A')).toEqual({ value: 'v' });
    expect(getHeader({ 'x-a': [] }, 'X-A')).toEqual({ missing: true });
    expect(getHeader({ 'x-a': ['v', 'w'] }, 'X-A')).toEqual({ repeated: true });
  });
});

describe('checkAuth: property', () => {
  const auths: WebhookAuth[] = [bearer, basic, hmac];
  it('never throws and never accepts arbitrary headers', () => {
    const headerValue = fc.oneof(fc.string(), fc.array(fc.string(), { maxLength: 3 }), fc.constant(undefined));
    const headers = fc.dictionary(fc.constantFrom('authorization', 'Authorization', 'x-grafana-alerting-signature', 'x-grafana-alerting-signature-timestamp', 'x-other'), headerValue);
    fc.assert(
      fc.property(fc.constantFrom(...auths), headers, fc.uint8Array({ maxLength: 64 }), (auth, h, body) => {
        const r = checkAuth(auth, req(h, Buffer.from(body)));
        expect(r.ok).toBe(false);
      }),
      { numRuns: 500 },
    );
  });
});
