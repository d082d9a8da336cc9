/**
 * The real-stack lab's Node service: written the way a Node developer writes it - `node:http`,
 * node-postgres' `pg.Pool`, prom-client - against a real PostgreSQL.
 *
 *   node dist/lab/stacks/node-service.js --port P --host H --dsn postgres://triage@127.0.0.1:5432/lab
 *        --pool-max N --query-ms MS --behaviour db|fd-leak
 *        --pool-export none|node-exporter|node-prom-client --log-dir D
 *
 * - `pg.Pool({ max })` with node-postgres' defaults otherwise: NO connectionTimeoutMillis, so a request
 *   waits for a pooled client forever; node-postgres never cancels a query or a queued checkout when
 *   the HTTP client goes away.
 * - behaviour db: `select pg_sleep($1)` per request; fd-leak: write `<logDir>/spool/report-<n>.json`
 *   with a descriptor that is never closed, then a fast query.
 * - pool export node-exporter: @christiangalsterer/node-postgres-prometheus-exporter on /metrics;
 *   node-prom-client: hand-named prom-client gauges (pg_pool_total_count, pg_pool_idle_count,
 *   pg_pool_waiting_count, pg_pool_max, no labels) on /metrics; none: /metrics is a 404.
 *   Both exports also have prom-client's collectDefaultMetrics() (process_open_fds, ...), as in the
 *   exporter's README.
 * - logs: `<logDir>/access.log` one line per request once its handler is done
 *   (`... "GET /xx/checkalive HTTP/1.1" 200 2 duration=523ms`), `<logDir>/app.log` start and errors.
 * - The pool is configured from the DSN's parts (host, port, user, database), not `connectionString`:
 *   the exporter reads `pool.options.host` / `.database` and exports no samples without them.
 *   `--pg-config connection-string` passes `connectionString` instead (to see that).
 *
 * Prints `{"event":"listening","pid":N,...}` on stdout once it listens.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import pg from 'pg';
import promClient from 'prom-client';
import { monitorPgPool } from '@christiangalsterer/node-postgres-prometheus-exporter';
import { argNumber, argString, parseArgs } from '../args.js';

type Behaviour = 'db' | 'fd-leak';
type Export = 'none' | 'node-exporter' | 'node-prom-client';

const args = parseArgs(process.argv.slice(2));
const port = argNumber(args, 'port');
const host = argString(args, 'host', '127.0.0.1');
const dsn = argString(args, 'dsn');
const poolMax = argNumber(args, 'pool-max', 10);
const queryMs = argNumber(args, 'query-ms', 200);
const behaviour = argString(args, 'behaviour', 'db') as Behaviour;
const poolExport = argString(args, 'pool-export', 'none') as Export;
const logDir = argString(args, 'log-dir');
/** `fields` (host, port, user, database from the DSN, which the npm exporter labels its series with) or `connection-string`. */
const pgConfig = argString(args, 'pg-config', 'fields');
if (!['db', 'fd-leak'].includes(behaviour)) throw new Error(`--behaviour: unknown "${behaviour}"`);
if (!['none', 'node-exporter', 'node-prom-client'].includes(poolExport)) throw new Error(`--pool-export: unknown "${poolExport}"`);

// ---------------------------------------------------------------- logs

fs.mkdirSync(path.join(logDir, 'spool'), { recursive: true });
const accessLog = fs.createWriteStream(path.join(logDir, 'access.log'), { flags: 'a' });
const appLog = fs.createWriteStream(path.join(logDir, 'app.log'), { flags: 'a' });
accessLog.on('error', (err) => console.error(`access.log: ${err.message}`));
appLog.on('error', (err) => console.error(`app.log: ${err.message}`));
const log = (level: 'info' | 'warn' | 'error', msg: string) => appLog.write(`${new Date().toISOString()} ${level} ${msg}\n`);

// ---------------------------------------------------------------- pool

function poolConfig(): pg.PoolConfig {
  if (pgConfig === 'connection-string') return { connectionString: dsn, max: poolMax };
  const u = new URL(dsn);
  return {
    host: decodeURIComponent(u.hostname),
    port: u.port === '' ? 5432 : Number(u.port),
    user: decodeURIComponent(u.username),
    password: u.password === '' ? undefined : decodeURIComponent(u.password),
    database: decodeURIComponent(u.pathname.replace(/^\//, '')) || undefined,
    max: poolMax,
  };
}

const pool = new pg.Pool(poolConfig());
// an idle client's connection broke (server restart, network): logged, the pool drops it
pool.on('error', (err) => log('error', `pg pool: idle client error: ${err.message}`));

// ---------------------------------------------------------------- metrics

let register: promClient.Registry | null = null;
if (poolExport === 'node-exporter') {
  register = new promClient.Registry();
  promClient.collectDefaultMetrics({ register });
  monitorPgPool(pool, register);
} else if (poolExport === 'node-prom-client') {
  register = promClient.register;
  promClient.collectDefaultMetrics();
  new promClient.Gauge({
    name: 'pg_pool_total_count',
    help: 'Total number of clients in the pool (idle and checked out).',
    collect() {
      this.set(pool.totalCount);
    },
  });
  new promClient.Gauge({
    name: 'pg_pool_idle_count',
    help: 'Number of idle clients in the pool.',
    collect() {
      this.set(pool.idleCount);
    },
  });
  new promClient.Gauge({
    name: 'pg_pool_waiting_count',
    help: 'Number of queued requests waiting for a client.',
    collect() {
      this.set(pool.waitingCount);
    },
  });
  new promClient.Gauge({
    name: 'pg_pool_max',
    help: 'Maximum number of clients in the pool.',
    collect() {
      this.set(poolMax);
    },
  });
}

// ---------------------------------------------------------------- handlers

let reportSeq = 0;

async function checkalive(): Promise<void> {
  if (behaviour === 'fd-leak') {
    // the bug: a report file per request, written through a descriptor nobody closes
    const n = ++reportSeq;
    const fd = fs.openSync(path.join(logDir, 'spool', `report-${n}.json`), 'w');
    fs.writeSync(fd, JSON.stringify({ n, at: new Date().toISOString(), pid: process.pid }) + '\n');
    await pool.query('select 1');
    return;
  }
  await pool.query('select pg_sleep($1)', [queryMs / 1000]);
}

const server = http.createServer((req, res) => {
  const t0 = process.hrtime.bigint();
  const ip = req.socket.remoteAddress ?? '-';
  let clientGone = false;
  req.socket.once('close', () => (clientGone = true));

  const send = (code: number, type: string, body: string) => {
    if (!res.headersSent && !res.destroyed) {
      res.writeHead(code, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    }
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    accessLog.write(
      `${new Date().toISOString()} ${ip} "${req.method} ${req.url} HTTP/${req.httpVersion}" ${code} ${Buffer.byteLength(body)} ` +
        `duration=${Math.round(ms)}ms${clientGone ? ' client_closed=1' : ''}\n`,
    );
  };

  const url = (req.url ?? '/').split('?', 1)[0];
  if (url === '/metrics') {
    if (register === null) {
      send(404, 'text/plain; charset=utf-8', 'not found\n');
      return;
    }
    register.metrics().then(
      (body) => send(200, register?.contentType ?? 'text/plain', body),
      (err: Error) => {
        log('error', `metrics: ${err.message}`);
        send(500, 'text/plain; charset=utf-8', 'metrics error\n');
      },
    );
    return;
  }
  checkalive().then(
    () => send(200, 'text/plain; charset=utf-8', 'ok'),
    (err: Error) => {
      log('error', `${req.method} ${url}: ${err.message}`);
      send(500, 'text/plain; charset=utf-8', 'internal error\n');
    },
  );
});

// listen errors, and accept errors (EMFILE) which would otherwise crash the process
let listening = false;
server.on('error', (err: NodeJS.ErrnoException) => {
  log('error', `server: ${err.message}`);
  if (!listening) {
    console.error(`node-service: listen ${host}:${port}: ${err.message}`);
    process.exit(1);
  }
});
server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
  if (err.code !== 'ECONNRESET' && socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\n\r\n');
  else socket.destroy();
});

server.listen(port, host, () => {
  listening = true;
  const addr = server.address();
  const boundPort = typeof addr === 'object' && addr ? addr.port : port;
  log(
    'info',
    `start pid=${process.pid} listening on ${host}:${boundPort} pool-max=${poolMax} query-ms=${queryMs} ` +
      `behaviour=${behaviour} pool-export=${poolExport} node=${process.version}`,
  );
  process.stdout.write(JSON.stringify({ event: 'listening', pid: process.pid, host, port: boundPort }) + '\n');
});

let stopping = false;
const shutdown = (sig: string) => {
  if (stopping) return;
  stopping = true;
  log('info', `shutdown on ${sig} (pool total=${pool.totalCount} idle=${pool.idleCount} waiting=${pool.waitingCount})`);
  server.close();
  server.closeAllConnections();
  const exit = () => process.exit(0);
  setTimeout(exit, 1000).unref();
  let open = 2;
  const ended = () => --open === 0 && exit();
  accessLog.end(ended);
  appLog.end(ended);
};
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
