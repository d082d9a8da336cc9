/**
 * A throwaway PostgreSQL cluster for the real-stack lab: Debian's `postgresql` binaries
 * (/usr/lib/postgresql/<ver>/bin), a fresh data directory in a temp dir, trust auth, no fsync,
 * 127.0.0.1 only, its unix socket inside the temp dir, a free port. As root, initdb and postgres run
 * as the `postgres` OS user through `runuser -u postgres --` (PostgreSQL refuses to run as root).
 *
 *   const pg = await startPostgres();
 *   pg.dsn()        // postgres://triage@127.0.0.1:<port>/lab
 *   await pg.stop() // fast shutdown (SIGINT), SIGKILL after a grace, temp dir removed
 *
 * The cluster has a database `lab` owned by the login role `triage` (member of pg_monitor, so it sees
 * every session in pg_stat_activity). The bootstrap superuser is `postgres`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { DAEMON_ENV, delay, findRunuser, kill, lookupUser, once, spawnDaemon, stopDaemon } from './daemon.js';

export interface PostgresOptions {
  /** a fixed port; default: a free one (retried if another process takes it first) */
  port?: number;
  /** every line postgres writes to stderr (its log) */
  onLine?: (line: string) => void;
  /** default 200 */
  maxConnections?: number;
}

export interface PostgresCluster {
  port: number;
  /** libpq-style URL for the role `triage`, database `lab` unless given */
  dsn(db?: string): string;
  maxConnections: number;
  /** the temp dir holding data/ and the unix socket (removed by stop) */
  dir: string;
  /** the postmaster's pid */
  pid: number;
  stop(): Promise<void>;
}

const INSTALL_HINT = 'apt-get install -y postgresql';

const START_TIMEOUT_MS = 90_000;
const INITDB_TIMEOUT_MS = 120_000;
const STOP_GRACE_MS = 5_000;

interface PgBin {
  dir: string;
  version: string;
}

/** The newest /usr/lib/postgresql/<ver>/bin that has initdb and postgres. */
export function findPgBin(root = '/usr/lib/postgresql'): PgBin {
  let versions: string[] = [];
  try {
    versions = fs.readdirSync(root).filter((v) => /^\d+(\.\d+)?$/.test(v));
  } catch {
    /* not installed */
  }
  versions.sort((a, b) => Number(b) - Number(a));
  for (const v of versions) {
    const dir = path.join(root, v, 'bin');
    if (fs.existsSync(path.join(dir, 'initdb')) && fs.existsSync(path.join(dir, 'postgres'))) return { dir, version: v };
  }
  throw new Error(`PostgreSQL server binaries not found under ${root}/<version>/bin: ${INSTALL_HINT}`);
}

interface RunAs {
  /** argv prefix (runuser) or empty */
  prefix: string[];
  uid: number;
  gid: number;
}

function runAs(): RunAs | null {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return null;
  const user = lookupUser('postgres');
  if (!user) throw new Error(`running as root and there is no "postgres" OS user to run PostgreSQL as: ${INSTALL_HINT}`);
  const runuser = findRunuser();
  if (!runuser) throw new Error('running as root and runuser is missing: apt-get install -y util-linux');
  return { prefix: [runuser, '-u', 'postgres', '--'], ...user };
}

function chownTree(p: string, uid: number, gid: number): void {
  fs.chownSync(p, uid, gid);
  if (fs.statSync(p).isDirectory()) for (const e of fs.readdirSync(p)) chownTree(path.join(p, e), uid, gid);
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (port > 0 ? resolve(port) : reject(new Error('no free port'))));
    });
  });
}

function runInitdb(bin: PgBin, as: RunAs | null, dataDir: string): Promise<void> {
  const argv = [
    ...(as?.prefix ?? []),
    path.join(bin.dir, 'initdb'),
    '-D', dataDir,
    '-U', 'postgres',
    '--auth=trust',
    '--encoding=UTF8',
    '--locale=C',
    '--no-sync',
    '--no-instructions',
  ];
  const [cmd, ...args] = argv as [string, ...string[]];
  // async: two clusters started at once initdb in parallel, and the caller's event loop keeps running
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: DAEMON_ENV });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), INITDB_TIMEOUT_MS);
    p.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`initdb: ${err.message}`));
    });
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve();
      const tail = out.trim().split('\n').slice(-3).join(' | ');
      reject(new Error(`initdb failed (exit ${code ?? signal}): ${tail}`));
    });
  });
}

/** Tries a real client connection until it works, the process dies, or the deadline passes. */
async function waitReady(port: number, child: ChildProcess, exited: () => boolean, deadline: number, lastLines: () => string): Promise<void> {
  let wait = 50;
  for (;;) {
    if (exited()) throw new Error(`postgres exited during start-up (exit ${child.exitCode ?? child.signalCode}): ${lastLines()}`);
    const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', connectionTimeoutMillis: 5_000 });
    c.on('error', () => undefined);
    try {
      await c.connect();
      await c.query('select 1');
      await c.end();
      return;
    } catch {
      await c.end().catch(() => undefined);
    }
    if (Date.now() > deadline) throw new Error(`postgres did not accept connections on 127.0.0.1:${port} within ${START_TIMEOUT_MS / 1000}s: ${lastLines()}`);
    await delay(wait);
    wait = Math.min(wait * 2, 500);
  }
}

export async function startPostgres(opts: PostgresOptions = {}): Promise<PostgresCluster> {
  const bin = findPgBin();
  const as = runAs();
  const maxConnections = opts.maxConnections ?? 200;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'triage-pg-'));
  const dataDir = path.join(dir, 'data');
  const sockDir = path.join(dir, 'sock');
  fs.mkdirSync(sockDir);
  const removeDir = () => fs.rmSync(dir, { recursive: true, force: true });

  let child: ChildProcess | null = null;
  let postmasterPid = 0;
  const pidFromFile = () => {
    try {
      return Number(fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n', 1)[0]) || 0;
    } catch {
      return 0;
    }
  };
  const onExit = () => {
    // synchronous: the parent is going away; immediate shutdown, then the files
    const pmPid = postmasterPid || pidFromFile();
    if (pmPid > 0) kill(pmPid, 'SIGQUIT');
    if (child?.pid !== undefined) kill(child.pid, 'SIGKILL');
    removeDir();
  };
  process.on('exit', onExit);

  try {
    if (as) chownTree(dir, as.uid, as.gid);
    await runInitdb(bin, as, dataDir);

    const deadline = Date.now() + START_TIMEOUT_MS;
    for (let attempt = 1; ; attempt++) {
      const port = opts.port ?? (await freePort());
      const argv = [
        ...(as?.prefix ?? []),
        path.join(bin.dir, 'postgres'),
        '-D', dataDir,
        '-p', String(port),
        '-c', 'listen_addresses=127.0.0.1',
        '-c', `unix_socket_directories=${sockDir}`,
        '-c', `max_connections=${maxConnections}`,
        '-c', 'shared_buffers=16MB',
        '-c', 'fsync=off',
        '-c', 'synchronous_commit=off',
        '-c', 'full_page_writes=off',
        '-c', 'autovacuum=off',
        '-c', 'logging_collector=off',
        '-c', 'log_destination=stderr',
      ];
      const daemon = spawnDaemon(argv, { keep: 50, ...(opts.onLine ? { onLine: opts.onLine } : {}) });
      const { proc, recent } = daemon;
      child = proc;
      const exited = daemon.exited;
      const lastLines = () => daemon.spawnError()?.message ?? recent.slice(-5).join(' | ');
      try {
        await waitReady(port, proc, exited, deadline, lastLines);
      } catch (err) {
        if (!exited()) {
          const pmPid = pidFromFile();
          if (pmPid > 0) kill(pmPid, 'SIGKILL');
          proc.kill('SIGKILL');
        }
        const bindRace = /could not (bind|create listen socket)|Address already in use/i.test(recent.join('\n'));
        if (exited() && bindRace && opts.port === undefined && attempt < 5 && Date.now() < deadline) {
          continue; // someone took the port between freePort() and bind: another port
        }
        throw err;
      }

      postmasterPid = pidFromFile() || (proc.pid ?? 0);

      const admin = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
      admin.on('error', () => undefined);
      await admin.connect();
      try {
        await admin.query('CREATE ROLE triage LOGIN');
        await admin.query('GRANT pg_monitor TO triage');
        await admin.query('CREATE DATABASE lab OWNER triage');
      } finally {
        await admin.end().catch(() => undefined);
      }

      // SIGINT is PostgreSQL's fast shutdown: ends sessions, checkpoints, exits
      const stop = once(() => stopDaemon({ proc, pid: postmasterPid, signal: 'SIGINT', exited, graceMs: STOP_GRACE_MS, exitHook: onExit, removeFiles: removeDir }));

      return {
        port,
        dsn: (db = 'lab') => `postgres://triage@127.0.0.1:${port}/${db}`,
        maxConnections,
        dir,
        pid: postmasterPid,
        stop,
      };
    }
  } catch (err) {
    onExit();
    process.removeListener('exit', onExit);
    throw err;
  }
}
