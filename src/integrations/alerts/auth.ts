import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { WebhookAuth } from '../../config.js';
import type { AuthResult } from './types.js';

export interface AuthRequest {
  headers: Record<string, string | string[] | undefined>;
  rawBody: Buffer;
  nowMs: number;
}

/** Looks a header up case-insensitively; repeated headers are refused rather than guessed at. */
export function getHeader(headers: AuthRequest['headers'], name: string): { value: string } | { missing: true } | { repeated: true } {
  const wanted = name.toLowerCase();
  const found: string[] = [];
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== wanted || value === undefined) continue;
    if (Array.isArray(value)) found.push(...value);
    else found.push(value);
  }
  if (found.length === 0) return { missing: true };
  if (found.length > 1) return { repeated: true };
  return { value: found[0] ?? '' };
}

/** Constant-time equality of two strings of any lengths: compares their SHA-256 digests. */
export function safeEqual(a: string | Buffer, b: string | Buffer): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db);
}

function header(req: AuthRequest, name: string): { ok: true; value: string } | { ok: false; reason: string } {
  const h = getHeader(req.headers, name);
  if ('missing' in h) return { ok: false, reason: `missing ${name} header` };
  if ('repeated' in h) return { ok: false, reason: `more than one ${name} header` };
  return { ok: true, value: h.value };
}

/** `Authorization: <scheme> <credentials>`; the scheme is case-insensitive (RFC 9110). */
function authorization(req: AuthRequest, scheme: string): { ok: true; credentials: string } | { ok: false; reason: string } {
  const h = header(req, 'Authorization');
  if (!h.ok) return h;
  const m = /^([A-Za-z]+) +(\S+) *$/.exec(h.value);
  if (!m || (m[1] ?? '').toLowerCase() !== scheme.toLowerCase()) return { ok: false, reason: `Authorization header is not ${scheme} credentials` };
  return { ok: true, credentials: m[2] ?? '' };
}

function checkBearer(token: string, req: AuthRequest): AuthResult {
  const a = authorization(req, 'Bearer');
  if (!a.ok) return a;
  return safeEqual(a.credentials, token) ? { ok: true } : { ok: false, reason: 'wrong bearer token' };
}

function checkBasic(username: string, password: string, req: AuthRequest): AuthResult {
  const a = authorization(req, 'Basic');
  if (!a.ok) return a;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(a.credentials)) return { ok: false, reason: 'Basic credentials are not base64' };
  const decoded = Buffer.from(a.credentials, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return { ok: false, reason: 'Basic credentials have no "user:password" form' };
  // Both compared every time (no short circuit), so timing does not tell which one was wrong.
  const userOk = safeEqual(decoded.slice(0, colon), username);
  const passOk = safeEqual(decoded.slice(colon + 1), password);
  return userOk && passOk ? { ok: true } : { ok: false, reason: 'wrong username or password' };
}

function checkHmac(auth: Extract<WebhookAuth, { type: 'hmac' }>, req: AuthRequest): AuthResult {
  const sig = header(req, auth.header);
  if (!sig.ok) return sig;
  const ts = header(req, auth.timestampHeader);
  if (!ts.ok) return ts;
  const tsText = ts.value.trim();
  if (!/^\d{1,12}$/.test(tsText)) return { ok: false, reason: `${auth.timestampHeader} is not a unix timestamp in seconds` };
  const skew = Math.abs(req.nowMs / 1000 - Number(tsText));
  if (!(skew <= auth.maxSkewSec)) {
    return { ok: false, reason: `${auth.timestampHeader} is ${Math.round(skew)} s away from now (at most ${auth.maxSkewSec}): stale or replayed` };
  }
  const given = sig.value.trim().toLowerCase().replace(/^sha256=/, '');
  if (!/^[0-9a-f]+$/.test(given)) return { ok: false, reason: `${auth.header} is not a hex signature` };
  const expected = createHmac('sha256', auth.secret).update(`${tsText}:`).update(req.rawBody).digest('hex');
  return safeEqual(given, expected) ? { ok: true } : { ok: false, reason: `${auth.header} does not match the body` };
}

/**
 * Checks a webhook request against the configured auth. Every secret comparison is constant-time;
 * reasons name what is missing or wrong and never contain a secret or what was sent.
 */
export function checkAuth(auth: WebhookAuth, req: AuthRequest): AuthResult {
  switch (auth.type) {
    case 'bearer':
      return checkBearer(auth.token, req);
    case 'basic':
      return checkBasic(auth.username, auth.password, req);
    case 'hmac':
      return checkHmac(auth, req);
  }
}
