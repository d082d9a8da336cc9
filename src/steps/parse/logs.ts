/**
 * Log-tail scanning: failure signatures, request durations, latency trend, secret redaction.
 * Pure functions, never throw. Lines longer than 64 KiB are only looked at in their first 64 KiB.
 */

const MAX_LINE = 65_536;

/** `too many open files` (Go, nginx `(24: Too many open files)`, Java) or the errno name. */
const EMFILE_RE = /too many open files|EMFILE/i;
/**
 * Waiting for a pool connection that did not come:
 * - `pool ... timed out` / `connection ... timeout` within 40 chars (HikariCP `Connection is not available,
 *   request timed out after 30000ms`, pgx `failed to acquire connection from pool: ... timeout`),
 * - Npgsql / .NET `ConnectionTimeout`, Go `waiting for a connection` / `waiting for an idle connection`,
 * - `acquire ... timeout` (pg-pool / knex `Timeout acquiring a connection`, generic pool acquire timeouts),
 * - node-postgres `timeout exceeded when trying to connect` (pg-pool connectionTimeoutMillis).
 * Note: nginx `upstream timed out (110: Connection timed out)` also matches (`Connection timed out`); it
 * is a saturation symptom at the proxy, counted on purpose.
 */
const POOL_TIMEOUT_RE =
  /(pool|connection).{0,40}(time ?out|timed out|timeout)|ConnectionTimeout|waiting for (a |an idle )?connection|acquir\w*.{0,20}timeout|timeout.{0,20}acquir|timeout exceeded when trying to connect/i;
/** The host's file table is full (ENFILE): `too many open files in system`, `file table overflow`. */
const ENFILE_RE = /too many open files in system|ENFILE|file table overflow/i;
/**
 * A DB driver failing to open a connection because the process is out of descriptors: lib/pq
 * `dial tcp 127.0.0.1:5432: socket: too many open files`, node-postgres `connect EMFILE
 * 127.0.0.1:5432`, JDBC/HikariCP `SocketException: Too many open files` inside a connection attempt:
 * a too-many-open-files line that names a database, driver, pool, query or a database port.
 * Lines that are about accept() are not counted here.
 */
const DB_CONNECT_RE = /\b(?:hikari\w*|jdbc|postgres(?:ql)?|psycopg2?|sqlalchemy|pgx?|pq|mysql|database|db|sql|query|pool)\b|:(?:5432|6432|3306)\b/i;
/** Go net/http `http: Accept error: ...`, `accept error`, `accept failed`. */
const ACCEPT_ERROR_RE = /accept (error|failed)|Accept error/i;

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go-style duration with units (`523ms`, `1.2s`, `1m2.5s`) → ms. */
function durationToMs(s: string): number | null {
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|μs|ms|s|m|h)/y;
  let pos = 0;
  let total = 0;
  let parts = 0;
  while (pos < s.length) {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (!m) return null;
    total += Number(m[1]) * (UNIT_MS[m[2] ?? ''] ?? NaN);
    pos = re.lastIndex;
    parts++;
  }
  return parts > 0 && Number.isFinite(total) ? total : null;
}

const GO_DUR = '((?:\\d+(?:\\.\\d+)?(?:ns|us|µs|μs|ms|s|m|h))+)';
/** Ordered: the first pattern that matches gives the line's one duration. */
const DURATION_PATTERNS: { re: RegExp; toMs: (m: RegExpExecArray) => number | null }[] = [
  // JSON field in milliseconds: "duration_ms":123 / "latency_ms": 12.5 (also duration_ms=123)
  { re: /"?(?:duration|latency|elapsed|response_time)_ms"?\s*[:=]\s*"?(\d+(?:\.\d+)?)/i, toMs: (m) => Number(m[1]) },
  // key=value with a unit: duration=523ms, duration="1.2s", dur=12ms, latency=1m2s, elapsed=3.4s
  {
    re: new RegExp(`(?<![\\w.])(?:duration|dur|latency|elapsed)"?\\s*[=:]\\s*"?${GO_DUR}(?![\\w.])`, 'i'),
    toMs: (m) => durationToMs(m[1] ?? ''),
  },
  // nginx $request_time (seconds with ms resolution): rt=0.123, request_time=0.123, "request_time":"0.123"
  {
    re: /(?<![\w.])(?:rt|request_time)"?\s*[=:]\s*"?(\d+(?:\.\d+)?)(?![\w.])/,
    toMs: (m) => Number(m[1]) * 1000,
  },
  // took 1.5s / took 523ms
  { re: new RegExp(`\\btook\\s+${GO_DUR}(?![\\w.])`, 'i'), toMs: (m) => durationToMs(m[1] ?? '') },
  // a trailing " 523ms" / " 1.2s" at the end of the line, unless it reads like a delay
  // (`retrying in 5ms`, `after 30s`, `sleeping 10ms`), which is not a request duration
  {
    re: /(?<!\b(?:in|after|every|for|retrying|sleep|sleeping|backoff|wait|waiting|timeout))\s(\d+(?:\.\d+)?)(ms|s)\s*$/i,
    toMs: (m) => Number(m[1]) * ((m[2] ?? '').toLowerCase() === 's' ? 1000 : 1),
  },
];

/** The request duration of one log line in ms, or null. */
export function durationFromLine(line: string): number | null {
  for (const p of DURATION_PATTERNS) {
    const m = p.re.exec(line);
    if (!m) continue;
    const v = p.toMs(m);
    if (v !== null && Number.isFinite(v) && v >= 0) return v;
  }
  return null;
}

export function scanLogLines(lines: string[]): {
  signatures: { emfile: number; dbConnectEmfile: number; enfile: number; poolTimeout: number; acceptError: number };
  durationsMs: number[];
} {
  const signatures = { emfile: 0, dbConnectEmfile: 0, enfile: 0, poolTimeout: 0, acceptError: 0 };
  const durationsMs: number[] = [];
  if (!Array.isArray(lines)) return { signatures, durationsMs };
  for (const raw of lines) {
    if (typeof raw !== 'string' || raw.length === 0) continue;
    const line = raw.length > MAX_LINE ? raw.slice(0, MAX_LINE) : raw;
    const accept = ACCEPT_ERROR_RE.test(line);
    if (EMFILE_RE.test(line)) {
      signatures.emfile++;
      // File paths name directories, not drivers: `open /srv/pool-data/x.json: too many open files` is a file.
      if (!accept && DB_CONNECT_RE.test(line.replace(/(?:^|[\s'"(=])\/[^\s'":)]*/g, ' '))) signatures.dbConnectEmfile++;
    }
    if (ENFILE_RE.test(line)) signatures.enfile++;
    if (POOL_TIMEOUT_RE.test(line)) signatures.poolTimeout++;
    if (accept) signatures.acceptError++;
    const d = durationFromLine(line);
    if (d !== null) durationsMs.push(d);
  }
  return { signatures, durationsMs };
}

function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? null) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

/**
 * Median of the first half vs the second half (the middle sample of an odd count goes to the second
 * half). The medians are given whenever there are at least 2 samples; the trend is `unknown` with fewer
 * than 6. rising: late > early × 1.5 and late − early > 20 ms; falling: early > late × 1.5 and
 * early − late > 20 ms; else flat. Non-finite and negative values are ignored.
 */
export function latencyTrend(durationsMs: number[]): {
  samples: number;
  earlyP50Ms: number | null;
  lateP50Ms: number | null;
  trend: 'rising' | 'flat' | 'falling' | 'unknown';
} {
  const xs = (Array.isArray(durationsMs) ? durationsMs : []).filter((x) => typeof x === 'number' && Number.isFinite(x) && x >= 0);
  const n = xs.length;
  if (n < 2) return { samples: n, earlyP50Ms: null, lateP50Ms: null, trend: 'unknown' };
  const half = Math.floor(n / 2);
  const early = median(xs.slice(0, half));
  const late = median(xs.slice(half));
  if (n < 6 || early === null || late === null) return { samples: n, earlyP50Ms: early, lateP50Ms: late, trend: 'unknown' };
  let trend: 'rising' | 'flat' | 'falling' = 'flat';
  if (late > early * 1.5 && late - early > 20) trend = 'rising';
  else if (early > late * 1.5 && early - late > 20) trend = 'falling';
  return { samples: n, earlyP50Ms: early, lateP50Ms: late, trend };
}

const R = '[REDACTED]';
const REDACTIONS: [RegExp, string | ((...a: string[]) => string)][] = [
  // URL credentials: scheme://user:PASS@host
  [/\b([a-z][a-z0-9+.-]{0,30}:\/\/[^\s:/@]{0,200}:)([^\s@/]{1,500})@/gi, `$1${R}@`],
  // Authorization headers: `Authorization: Bearer X`, `authorization=Basic X`, `Authorization: X`
  [/\b(authorization"?\s*[:=]\s*"?(?:bearer|basic|token|digest)?\s*)([^\s",;]{1,4096})/gi, `$1${R}`],
  // Bare bearer tokens elsewhere
  [/\b(bearer\s+)(?!\[REDACTED\])([A-Za-z0-9._~+/=-]{8,4096})/gi, `$1${R}`],
  // JSON / key-value secrets: "password":"x", password=x, client_secret: x, api_key=x, access_token=x
  [
    /((?:[\w-]{0,40})(?:password|passwd|pwd|secret[_-]?access[_-]?key|secret|token|api[_-]?key)"?\s*[=:]\s*)("(?:[^"\\]|\\.){0,4096}"|'[^']{0,4096}'|[^\s&,;"']{1,4096})/gi,
    (_m: string, key: string, val: string) => (val.startsWith('"') ? `${key}"${R}"` : val.startsWith("'") ? `${key}'${R}'` : `${key}${R}`),
  ],
  // Command-line flags with the value as the next word: --password hunter2, -token x
  [/(\s--?[\w-]{0,40}(?:password|passwd|pwd|secret[_-]?access[_-]?key|secret|token|api[_-]?key)\s+)(?!\[REDACTED\])(?!-)(\S{1,4096})/gi, `$1${R}`],
  // AWS access key ids
  [/\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/g, R],
  // Slack tokens
  [/\bxox[abprs]-[A-Za-z0-9-]{6,}/g, R],
];

/**
 * Replaces secret values with `[REDACTED]`: values of password=, passwd=, pwd=, secret=, token=,
 * apikey=/api_key=, secret_access_key= (also as `key: value` and JSON `"key":"value"`, and with
 * prefixes such as `client_secret`, `access_token`, `DB_PASSWORD`, `AWS_SECRET_ACCESS_KEY`), `Authorization:` header values and bare `Bearer X`,
 * URL credentials (`postgres://user:PASS@`), AWS access key ids (AKIA/ASIA...), Slack tokens (xox?-...).
 */
export function redactSecrets(line: string): string {
  if (typeof line !== 'string') return '';
  let out = line;
  for (const [re, rep] of REDACTIONS) {
    re.lastIndex = 0;
    out = out.replace(re, rep as string);
  }
  return out;
}
