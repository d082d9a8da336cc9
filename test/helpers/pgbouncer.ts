/**
 * A throwaway pgbouncer for integration tests: Debian's /usr/sbin/pgbouncer with its own ini, user
 * list, log and pid file in a temp dir, 127.0.0.1 on a free port, in the foreground (no -d).
 * pgbouncer refuses to run as root, so as root it runs as the `postgres` OS user through
 * `runuser -u postgres --` and the temp dir is handed to that user.
 *
 *   const pgb = await startPgbouncer({ upstreamPort: pg.port, database: 'lab', user: 'triage' });
 *   pgb.dsn()             // postgres://triage@127.0.0.1:<port>/lab       (through the pool)
 *   pgb.adminDsn()        // postgres://stats@127.0.0.1:<port>/pgbouncer  (console; stats_users)
 *   await pgb.stop()      // SIGTERM (immediate shutdown), SIGKILL after a grace, temp dir removed
 *
 * Everything is spawned from argv, never through a shell.
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort } from './ports.js';
import { delay, findRunuser, kill, lookupUser, once, spawnDaemon, stopDaemon } from '../../src/lab/stacks/daemon.js';

export const PGBOUNCER_BIN = '/usr/sbin/pgbouncer';
const INSTALL_HINT = 'apt-get install -y pgbouncer';
const START_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 5_000;

export interface PgbouncerOptions {
  upstreamHost?: string;
  upstreamPort: number;
  /** the database pgbouncer serves, under the same name, on the upstream server */
  database: string;
  /** the upstream role every pooled connection logs in as */
  user: string;
  poolMode?: 'session' | 'transaction' | 'statement';
  defaultPoolSize?: number;
  /** may run every console command (SHUTDOWN, PAUSE…); default postgres */
  adminUser?: string;
  /** may run the console's SHOW commands; default stats */
  statsUser?: string;
}

export interface Pgbouncer {
  port: number;
  /** a client DSN for the pooled database (as `user` unless given) */
  dsn(user?: string): string;
  /** the admin console as the stats user (or the admin user when `admin` is set) */
  adminDsn(admin?: boolean): string;
  dir: string;
  /** the last lines pgbouncer logged */
  log(): string;
  stop(): Promise<void>;
}

/** One query on a fresh connection; the admin console speaks the simple query protocol only, as pg uses without parameters. */
export async function queryOnce<T extends pg.QueryResultRow>(dsn: string, sql: string, timeoutMs = 10_000): Promise<T[]> {
  const c = new pg.Client({ connectionString: dsn, connectionTimeoutMillis: timeoutMs });
  c.on('error', () => undefined);
  try {
    await c.connect();
    return (await c.query<T>(sql)).rows;
  } finally {
    await c.end().catch(() => undefined);
  }
}

export async function startPgbouncer(opts: PgbouncerOptions): Promise<Pgbouncer> {
  if (!fs.existsSync(PGBOUNCER_BIN)) throw new Error(`pgbouncer not found at ${PGBOUNCER_BIN}: ${INSTALL_HINT}`);
  const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  let prefix: string[] = [];
  let owner: { uid: number; gid: number } | null = null;
  if (asRoot) {
    owner = lookupUser('postgres');
    if (!owner) throw new Error('running as root and there is no "postgres" OS user to run pgbouncer as (pgbouncer refuses root): apt-get install -y postgresql');
    const runuser = findRunuser();
    if (!runuser) throw new Error('running as root and runuser is missing: apt-get install -y util-linux');
    prefix = [runuser, '-u', 'postgres', '--'];
  }

  const adminUser = opts.adminUser ?? 'postgres';
  const statsUser = opts.statsUser ?? 'stats';
  const host = opts.upstreamHost ?? '127.0.0.1';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'triage-pgb-'));
  const ini = path.join(dir, 'pgbouncer.ini');
  const pidFile = path.join(dir, 'pgbouncer.pid');
  const removeDir = () => fs.rmSync(dir, { recursive: true, force: true });
  const pidFromFile = () => {
    try {
      return Number(fs.readFileSync(pidFile, 'utf8').trim()) || 0;
    } catch {
      return 0;
    }
  };

  let child: ChildProcess | null = null;
  const onExit = () => {
    kill(pidFromFile(), 'SIGKILL');
    if (child?.pid !== undefined) kill(child.pid, 'SIGKILL');
    removeDir();
  };
  process.on('exit', onExit);

  let lastLines = () => '';
  try {
    const users = [...new Set([opts.user, adminUser, statsUser])];
    fs.writeFileSync(path.join(dir, 'userlist.txt'), users.map((u) => `"${u}" ""\n`).join(''));
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      fs.writeFileSync(
        ini,
        [
          '[databases]',
          `${opts.database} = host=${host} port=${opts.upstreamPort} dbname=${opts.database} user=${opts.user}`,
          '',
          '[pgbouncer]',
          'listen_addr = 127.0.0.1',
          `listen_port = ${port}`,
          `unix_socket_dir = ${dir}`,
          'auth_type = trust',
          `auth_file = ${path.join(dir, 'userlist.txt')}`,
          `admin_users = ${adminUser}`,
          `stats_users = ${statsUser}`,
          `pool_mode = ${opts.poolMode ?? 'transaction'}`,
          `default_pool_size = ${opts.defaultPoolSize ?? 2}`,
          'max_client_conn = 100',
          `logfile = ${path.join(dir, 'pgbouncer.log')}`,
          `pidfile = ${pidFile}`,
          '',
        ].join('\n'),
      );
      if (owner) for (const f of [dir, ...fs.readdirSync(dir).map((e) => path.join(dir, e))]) fs.chownSync(f, owner.uid, owner.gid);

      const argv = [...prefix, PGBOUNCER_BIN, ini];
      const daemon = spawnDaemon(argv, { keep: 100 });
      const { proc, recent } = daemon;
      child = proc;
      const exited = daemon.exited;
      lastLines = () => daemon.spawnError()?.message ?? recent.slice(-8).join(' | ');

      const admin = `postgres://${statsUser}@127.0.0.1:${port}/pgbouncer`;
      let wait = 50;
      let ready = false;
      while (!ready) {
        if (exited()) break;
        try {
          await queryOnce(admin, 'SHOW VERSION', 5_000);
          ready = true;
        } catch {
          if (Date.now() > deadline) break;
          await delay(wait);
          wait = Math.min(wait * 2, 500);
        }
      }
      if (!ready) {
        kill(pidFromFile(), 'SIGKILL');
        if (!exited()) proc.kill('SIGKILL');
        const bindRace = /Address already in use|could not bind|bind\(\) failed/i.test(recent.join('\n'));
        if (exited() && bindRace && attempt < 5 && Date.now() < deadline) {
          continue; // another process took the port between freePort() and bind
        }
        const why = lastLines();
        throw new Error(
          exited()
            ? `pgbouncer exited during start-up (exit ${proc.exitCode ?? proc.signalCode}): ${why}`
            : `pgbouncer did not accept connections on 127.0.0.1:${port} within ${START_TIMEOUT_MS / 1000}s: ${why}`,
        );
      }

      const pgbPid = pidFromFile() || (proc.pid ?? 0);
      const stop = once(() => stopDaemon({ proc, pid: pgbPid, signal: 'SIGTERM', exited, graceMs: STOP_GRACE_MS, exitHook: onExit, removeFiles: removeDir }));
      return {
        port,
        dsn: (user = opts.user) => `postgres://${user}@127.0.0.1:${port}/${opts.database}`,
        adminDsn: (asAdmin = false) => `postgres://${asAdmin ? adminUser : statsUser}@127.0.0.1:${port}/pgbouncer`,
        dir,
        log: lastLines,
        stop,
      };
    }
  } catch (err) {
    onExit();
    process.removeListener('exit', onExit);
    throw err;
  }
}
