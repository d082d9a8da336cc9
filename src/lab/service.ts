/**
 * The lab's broken service: a tiny HTTP/1.1 server that behaves like the Go service of the incident.
 *
 *   node dist/lab/service.js --port P --host H --log-dir D --pool-max N --query-ms MS
 *                            [--database-url URL] [--scenario db-pool]
 *
 * - `net.createServer({ allowHalfOpen: true })`: a client FIN does not end the socket, which stays in
 *   CLOSE_WAIT until the handler finishes (as with Go's net/http). Node's own `http` server would end it.
 * - every path but /metrics and /debug/vars does one DB query through a pool with no acquisition
 *   time-out; /metrics and /debug/vars never touch the pool.
 * - on EMFILE, libuv's accept trick accepts and closes pending connections: clients get RST.
 *
 * Settings come from argv only. Prints one JSON line `{"event":"listening",...}` on stdout when ready.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { argNumber, argString, parseArgs } from './args.js';
import { MemoryPool, PgPool, type DbPool, type DbStats } from './pool.js';
import { getScenario, type Behaviour, type Scenario } from './scenarios.js';
import { get as httpGetUpstream } from 'node:http';

interface ServiceConfig {
  host: string;
  port: number;
  logDir: string;
  poolMax: number;
  queryMs: number;
  databaseUrl?: string;
  upstreamUrl?: string;
  scenario?: Scenario;
  behaviour: Behaviour;
  backlog: number;
  busyMs: number;
}

function readConfig(argv: readonly string[]): ServiceConfig {
  const args = parseArgs(argv);
  const scenarioId = args.get('scenario');
  const scenario = scenarioId === undefined ? undefined : getScenario(scenarioId);
  const cfg: ServiceConfig = {
    host: argString(args, 'host', '127.0.0.1'),
    port: argNumber(args, 'port'),
    logDir: argString(args, 'log-dir'),
    poolMax: argNumber(args, 'pool-max', scenario?.service.poolMax),
    queryMs: argNumber(args, 'query-ms', scenario?.service.queryMs),
    behaviour: scenario?.service.behaviour ?? 'db',
    backlog: argNumber(args, 'backlog', scenario?.service.backlog ?? 511),
    busyMs: argNumber(args, 'busy-ms', scenario?.service.busyMs ?? 0),
  };
  const url = args.get('database-url');
  if (url !== undefined) cfg.databaseUrl = url;
  const upstream = args.get('upstream-url');
  if (upstream !== undefined) cfg.upstreamUrl = upstream;
  if (scenario) cfg.scenario = scenario;
  return cfg;
}

// ---------------------------------------------------------------- logs

class Logs {
  readonly access: fs.WriteStream;
  readonly app: fs.WriteStream;
  readonly error: fs.WriteStream;

  constructor(dir: string) {
    fs.mkdirSync(dir, { recursive: true });
    const open = (name: string) => {
      const s = fs.createWriteStream(path.join(dir, name), { flags: 'a' });
      s.on('error', (err) => process.stderr.write(`log ${name}: ${err.message}\n`));
      return s;
    };
    this.access = open('access.log');
    this.app = open('app.log');
    this.error = open('error.log');
  }

  appLine(msg: string): void {
    this.app.write(`${new Date().toISOString()} ${msg}\n`);
  }

  errorLine(msg: string): void {
    this.error.write(`${new Date().toISOString()} error ${msg}\n`);
  }

  end(): Promise<void> {
    const ends = [this.access, this.app, this.error].map(
      (s) => new Promise<void>((r) => s.end(() => r())),
    );
    return Promise.all(ends).then(() => undefined);
  }
}

// ---------------------------------------------------------------- process facts

let cachedMaxFds: number | null = null;

function readMaxFds(onError: (msg: string) => void): number | null {
  try {
    const limits = fs.readFileSync('/proc/self/limits', 'utf8');
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(limits);
    if (m?.[1] !== undefined && m[1] !== 'unlimited') cachedMaxFds = Number(m[1]);
  } catch (err) {
    onError(`read /proc/self/limits: ${(err as Error).message}`);
  }
  return cachedMaxFds;
}

function countOpenFds(onError: (msg: string) => void): number | null {
  try {
    // kernels >= 6.2 report the count as the directory size; stat needs no descriptor (works at EMFILE)
    const size = fs.statSync('/proc/self/fd').size;
    if (size > 0) return size;
    return fs.readdirSync('/proc/self/fd').length - 1; // minus the directory's own descriptor
  } catch (err) {
    onError(`count /proc/self/fd: ${(err as Error).message}`);
    return null;
  }
}

// ---------------------------------------------------------------- metrics

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

class HttpMetrics {
  readonly byCode = new Map<number, number>();
  readonly bucketCounts = BUCKETS.map(() => 0);
  sum = 0;
  count = 0;

  observe(code: number, seconds: number): void {
    this.byCode.set(code, (this.byCode.get(code) ?? 0) + 1);
    this.count++;
    this.sum += seconds;
    BUCKETS.forEach((le, i) => {
      if (seconds <= le) this.bucketCounts[i] = (this.bucketCounts[i] ?? 0) + 1;
    });
  }
}

interface Family {
  name: string;
  help: string;
  type: 'gauge' | 'counter' | 'histogram';
  lines: string[];
}

function renderMetrics(db: DbStats, http: HttpMetrics, fds: number | null, maxFds: number | null): string {
  const lbl = '{db_name="lab"}';
  const fam = (name: string, type: Family['type'], help: string, value: number): Family => ({
    name,
    help,
    type,
    lines: [`${name}${lbl} ${value}`],
  });
  const families: Family[] = [
    fam('go_sql_max_open_connections', 'gauge', 'Maximum number of open connections to the database.', db.MaxOpenConnections),
    fam('go_sql_open_connections', 'gauge', 'The number of established connections both in use and idle.', db.OpenConnections),
    fam('go_sql_in_use_connections', 'gauge', 'The number of connections currently in use.', db.InUse),
    fam('go_sql_idle_connections', 'gauge', 'The number of idle connections.', db.Idle),
    fam('go_sql_wait_count_total', 'counter', 'The total number of connections waited for.', db.WaitCount),
    fam('go_sql_wait_duration_seconds_total', 'counter', 'The total time blocked waiting for a new connection.', db.WaitDuration / 1e9),
    fam('go_sql_max_idle_closed_total', 'counter', 'The total number of connections closed due to SetMaxIdleConns.', db.MaxIdleClosed),
    fam('go_sql_max_idle_time_closed_total', 'counter', 'The total number of connections closed due to SetConnMaxIdleTime.', 0),
    fam('go_sql_max_lifetime_closed_total', 'counter', 'The total number of connections closed due to SetConnMaxLifetime.', db.MaxLifetimeClosed),
  ];
  if (fds !== null) {
    families.push({ name: 'process_open_fds', help: 'Number of open file descriptors.', type: 'gauge', lines: [`process_open_fds ${fds}`] });
  }
  if (maxFds !== null) {
    families.push({ name: 'process_max_fds', help: 'Maximum number of open file descriptors.', type: 'gauge', lines: [`process_max_fds ${maxFds}`] });
  }
  families.push({
    name: 'http_requests_total',
    help: 'Total number of HTTP requests by status code.',
    type: 'counter',
    lines: [...http.byCode.entries()].sort((a, b) => a[0] - b[0]).map(([code, n]) => `http_requests_total{code="${code}"} ${n}`),
  });
  const hist: string[] = BUCKETS.map((le, i) => `http_request_duration_seconds_bucket{le="${le}"} ${http.bucketCounts[i] ?? 0}`);
  hist.push(`http_request_duration_seconds_bucket{le="+Inf"} ${http.count}`);
  hist.push(`http_request_duration_seconds_sum ${http.sum}`);
  hist.push(`http_request_duration_seconds_count ${http.count}`);
  families.push({ name: 'http_request_duration_seconds', help: 'HTTP request latencies in seconds.', type: 'histogram', lines: hist });

  families.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)); // client_golang sorts families
  return families.map((f) => [`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.type}`, ...f.lines].join('\n')).join('\n') + '\n';
}

// ---------------------------------------------------------------- HTTP

interface Request {
  method: string;
  target: string;
  version: string;
}

const REASONS: Record<number, string> = { 200: 'OK', 400: 'Bad Request', 431: 'Request Header Fields Too Large', 500: 'Internal Server Error' };
const MAX_HEAD = 16 * 1024;

function parseHead(head: string): Request | null {
  const first = head.split('\r\n', 1)[0] ?? '';
  const parts = first.split(' ');
  if (parts.length !== 3) return null;
  const [method, target, version] = parts as [string, string, string];
  if (!/^[A-Z]+$/.test(method) || !target.startsWith('/') || !version.startsWith('HTTP/1.')) return null;
  return { method, target, version };
}

/** GET the upstream with no time-out, as the buggy service does; resolves when the answer is complete. */
function callUpstream(url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = httpGetUpstream(url, { agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve());
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

async function main(): Promise<void> {
  const cfg = readConfig(process.argv.slice(2));
  const logs = new Logs(cfg.logDir);

  // rate-limit error lines that can repeat thousands of times a second
  const lastErrorAt = new Map<string, { at: number; suppressed: number }>();
  const logError = (key: string, msg: string) => {
    const now = Date.now();
    const seen = lastErrorAt.get(key);
    if (seen && now - seen.at < 1000) {
      seen.suppressed++;
      return;
    }
    const extra = seen && seen.suppressed > 0 ? ` (${seen.suppressed} more like this suppressed)` : '';
    lastErrorAt.set(key, { at: now, suppressed: 0 });
    logs.errorLine(msg + extra);
  };

  if (cfg.behaviour === 'crash') {
    // The scenario `down`: a fatal error at start-up, before listening; the logs keep the reason.
    logs.appLine(`start pid=${process.pid} scenario=${cfg.scenario?.id ?? '-'}`);
    logs.errorLine('fatal: config: upstream "payments" has no address (checkout.yaml line 12); exiting');
    await logs.end();
    process.exit(1);
  }

  const pool: DbPool =
    cfg.databaseUrl !== undefined
      ? await PgPool.create(cfg.databaseUrl, cfg.poolMax, cfg.queryMs, (err) => logError('pg-pool', `db pool: ${err.message}`))
      : new MemoryPool(cfg.poolMax, cfg.queryMs);

  const http = new HttpMetrics();
  const sockets = new Set<net.Socket>();
  const templatePath = path.join(cfg.logDir, 'template.html');
  const leaked: number[] = [];
  if (cfg.behaviour === 'fd-leak') fs.writeFileSync(templatePath, '<html>{{body}}</html>\n');
  readMaxFds((m) => logError('limits', m));

  const respond = (sock: net.Socket, code: number, contentType: string, body: string) => {
    const head =
      `HTTP/1.1 ${code} ${REASONS[code] ?? 'Unknown'}\r\n` +
      `Content-Type: ${contentType}\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      `Date: ${new Date().toUTCString()}\r\n` +
      'Connection: close\r\n\r\n';
    try {
      if (!sock.destroyed) sock.end(head + body); // write errors (peer gone) surface as 'error', ignored
    } catch {
      /* ignore */
    }
    // like Go's closeWriteAndWait: half-close, give the client a moment, then close for good
    setTimeout(() => sock.destroy(), 500).unref();
  };

  const handle = async (req: Request): Promise<{ code: number; type: string; body: string }> => {
    const pathOnly = req.target.split('?', 1)[0] ?? '/';
    if (pathOnly === '/metrics') {
      const onErr = (m: string) => logError('metrics', `metrics: ${m}`);
      const body = renderMetrics(pool.stats(), http, countOpenFds(onErr), readMaxFds(onErr));
      return { code: 200, type: 'text/plain; version=0.0.4; charset=utf-8', body };
    }
    if (pathOnly === '/debug/vars') {
      const mem = process.memoryUsage();
      const vars = {
        cmdline: process.argv,
        memstats: { Alloc: mem.heapUsed, HeapAlloc: mem.heapUsed, HeapSys: mem.heapTotal, Sys: mem.rss, External: mem.external },
        dbstats: pool.stats(),
      };
      return { code: 200, type: 'application/json; charset=utf-8', body: JSON.stringify(vars) + '\n' };
    }
    // the business handler, by scenario: a leaked file, blocking work, a slow upstream; then one DB query
    if (cfg.behaviour === 'fd-leak') {
      try {
        leaked.push(fs.openSync(templatePath, 'r')); // the bug: opened for every request, never closed
      } catch (err) {
        logError('template', `open ${templatePath}: ${(err as Error).message}`);
        return { code: 500, type: 'text/plain; charset=utf-8', body: 'template error\n' };
      }
    }
    if (cfg.behaviour === 'busy') {
      const until = performance.now() + cfg.busyMs;
      while (performance.now() < until) {
        // the bug: synchronous work on the event loop; nothing is accepted meanwhile
      }
    }
    if (cfg.behaviour === 'upstream' && cfg.upstreamUrl) {
      try {
        await callUpstream(cfg.upstreamUrl); // the bug: no time-out on the upstream call
      } catch (err) {
        logError('upstream', `upstream ${cfg.upstreamUrl}: ${(err as Error).message}`);
        return { code: 502, type: 'text/plain; charset=utf-8', body: 'upstream error\n' };
      }
    }
    try {
      const { waitedMs } = await pool.query();
      if (waitedMs > 1000) {
        const s = pool.stats();
        logs.appLine(
          `warn db: waited ${Math.round(waitedMs)}ms for a connection (pool ${s.InUse}/${s.MaxOpenConnections} in use, ${pool.waiting()} waiting)`,
        );
      }
      return { code: 200, type: 'text/plain; charset=utf-8', body: 'ok' };
    } catch (err) {
      logError('db-query', `db query: ${(err as Error).message}`);
      return { code: 500, type: 'text/plain; charset=utf-8', body: 'db error\n' };
    }
  };

  const server = net.createServer({ allowHalfOpen: true }, (sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => {
      /* ECONNRESET / EPIPE from clients that hung up: expected, ignored */
    });
    const ip = sock.remoteAddress ?? '-';
    let buf: Buffer = Buffer.alloc(0);
    let started = false;

    const finish = (req: Request | null, code: number, type: string, body: string, t0: bigint) => {
      respond(sock, code, type, body);
      const secs = Number(process.hrtime.bigint() - t0) / 1e9;
      http.observe(code, secs);
      const line = req ? `${req.method} ${req.target} ${req.version}` : '-';
      logs.access.write(
        `${new Date().toISOString()} ${ip} "${line}" ${code} ${Buffer.byteLength(body)} duration=${Math.round(secs * 1000)}ms\n`,
      );
    };

    sock.on('data', (chunk: Buffer) => {
      if (started) return; // one request per connection; pipelined extras are ignored
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) {
        if (buf.length > MAX_HEAD) {
          started = true;
          finish(null, 431, 'text/plain', 'request header too large\n', process.hrtime.bigint());
        }
        return;
      }
      started = true;
      const t0 = process.hrtime.bigint();
      const req = parseHead(buf.subarray(0, end).toString('latin1'));
      buf = Buffer.alloc(0);
      if (!req) {
        finish(null, 400, 'text/plain', 'bad request\n', t0);
        return;
      }
      handle(req).then(
        (r) => finish(req, r.code, r.type, r.body, t0),
        (err: unknown) => {
          logError('handler', `handler: ${(err as Error).message}`);
          finish(req, 500, 'text/plain', 'internal error\n', t0);
        },
      );
    });
    sock.on('end', () => {
      // client half-closed. With a request in flight we keep the socket (CLOSE_WAIT) until the
      // handler is done, as Go does. Without one there is nothing to answer: close.
      if (!started) {
        started = true;
        sock.end();
      }
    });
  });

  let listening = false;
  server.on('error', (err: NodeJS.ErrnoException) => {
    if (!listening) {
      logs.errorLine(`listen ${cfg.host}:${cfg.port}: ${err.message}`);
      process.stderr.write(`service: listen ${cfg.host}:${cfg.port}: ${err.message}\n`);
      void logs.end().finally(() => process.exit(1));
      return;
    }
    logError(`server-${err.code ?? 'x'}`, `server: ${err.message}`);
  });

  const statsTimer = setInterval(() => {
    logs.appLine(`dbstats ${JSON.stringify(pool.stats())}`);
  }, 1000);

  let stopping = false;
  const shutdown = (sig: string) => {
    if (stopping) return;
    stopping = true;
    clearInterval(statsTimer);
    logs.appLine(`shutdown on ${sig} (${sockets.size} connections open, ${pool.waiting()} requests waiting for the pool)`);
    server.close();
    for (const s of sockets) s.destroy(); // don't wait for blocked handlers
    const exit = () => process.exit(0);
    setTimeout(exit, 500).unref();
    void logs.end().then(exit, exit);
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('uncaughtException', (err) => logError('uncaught', `uncaught: ${err.stack ?? err.message}`));

  server.listen({ port: cfg.port, host: cfg.host, backlog: cfg.backlog }, () => {
    listening = true;
    const addr = server.address();
    const port = typeof addr === 'object' && addr ? addr.port : cfg.port;
    try {
      fs.writeFileSync(path.join(cfg.logDir, 'service.pid'), `${process.pid}\n`);
    } catch (err) {
      logError('pidfile', `write service.pid: ${(err as Error).message}`);
    }
    logs.appLine(
      `start pid=${process.pid} listening on ${cfg.host}:${port} scenario=${cfg.scenario?.id ?? '-'} ` +
        `pool-max=${cfg.poolMax} query-ms=${cfg.queryMs} db=${pool.kind} max-fds=${cachedMaxFds ?? '?'}`,
    );
    process.stdout.write(JSON.stringify({ event: 'listening', pid: process.pid, host: cfg.host, port }) + '\n');
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`service: ${(err as Error).message}\n`);
  process.exit(1);
});
