#!/usr/bin/env node
// Makes sure this machine has what the test suite needs (run first by `npm test`).
// Plain Node ESM, no dependencies. Idempotent; silent and fast when everything is present.
//
// As root on Debian it installs what is missing; otherwise it prints the exact commands
// to run and exits 1. It never reads stdin (CI has none).

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { connect } from 'node:net';

// ---------------------------------------------------------------------------
// Binaries the tests need -> the Debian package that provides them.
// To add a requirement, add one line. A /usr/bin or /usr/sbin path is also
// accepted at /bin or /sbin (systems without merged /usr).
// ---------------------------------------------------------------------------
const REQUIRED = {
  '/usr/sbin/sshd': 'openssh-server',
  '/usr/bin/ssh': 'openssh-client',
  '/usr/bin/ssh-keygen': 'openssh-client',
  '/usr/bin/prlimit': 'util-linux',
  '/usr/sbin/runuser': 'util-linux',
  '/usr/bin/ss': 'iproute2',
  '/usr/bin/timeout': 'coreutils',
  '/usr/bin/ps': 'procps',
  '/usr/bin/pkill': 'procps',
  '/usr/bin/curl': 'curl',
  '/usr/bin/find': 'findutils',
  '/usr/bin/prometheus': 'prometheus',
  '/usr/bin/psql': 'postgresql-client',
  '/usr/bin/prometheus-alertmanager': 'prometheus-alertmanager',
  '/usr/bin/redis-server': 'redis-server',
  '/usr/bin/sudo': 'sudo',
  '/usr/sbin/visudo': 'sudo',
  // The real-stack lab (src/lab/stacks/): Go, Java and Node services against PostgreSQL.
  '/usr/lib/postgresql/*/bin/initdb': 'postgresql',
  '/usr/bin/go': 'golang-go',
  '/usr/share/gocode/src/github.com/lib/pq': 'golang-github-lib-pq-dev',
  '/usr/share/gocode/src/github.com/prometheus/client_golang/prometheus/collectors': 'golang-github-prometheus-client-golang-dev',
  '/usr/bin/javac': 'openjdk-17-jdk-headless',
  '/usr/share/java/HikariCP.jar': 'libhikaricp-java',
  '/usr/share/java/postgresql.jar': 'libpostgresql-jdbc-java',
  '/usr/share/java/slf4j-simple.jar': 'libslf4j-java',
};

// The dedicated SSH user the integration tests log in as (clean home, fast shell start).
// Keep in sync with TEST_USER in test/helpers/sshd.ts.
const TEST_USER = 'triage-test';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const sudo = isRoot ? '' : 'sudo ';

function log(msg) {
  process.stderr.write(`test-prereqs: ${msg}\n`);
}

function binaryPresent(path) {
  // `/usr/lib/postgresql/*/bin/initdb`: any version's
  const star = path.indexOf('/*/');
  if (star >= 0) {
    const dir = path.slice(0, star);
    try {
      return readdirSync(dir).some((v) => existsSync(`${dir}/${v}/${path.slice(star + 3)}`));
    } catch {
      return false;
    }
  }
  if (existsSync(path)) return true;
  const m = /^\/usr\/(s?bin)\/(.+)$/.exec(path);
  return m !== null && existsSync(`/${m[1]}/${m[2]}`);
}

/** Runs a command with output streamed to stderr (stdout of the child -> our stderr). */
function run(cmd, args, env = process.env) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 2, 2], env });
  if (r.error) {
    log(`${cmd} failed to start: ${r.error.message}`);
    return false;
  }
  return r.status === 0;
}

function aptListsEmpty() {
  try {
    return !readdirSync('/var/lib/apt/lists').some((f) => f.endsWith('_Packages') || /_Packages\.\w+$/.test(f));
  } catch {
    return true;
  }
}

function fail(lines) {
  for (const l of lines) process.stderr.write(`${l}\n`);
  process.exit(1);
}

let problems = 0;

// --- 1. Debian packages -----------------------------------------------------
const missingPkgs = [
  ...new Set(Object.entries(REQUIRED).filter(([bin]) => !binaryPresent(bin)).map(([, pkg]) => pkg)),
];

if (missingPkgs.length > 0) {
  const list = missingPkgs.join(' ');
  const canInstall = isRoot && existsSync('/etc/debian_version') && binaryPresent('/usr/bin/apt-get');
  if (!canInstall) {
    problems++;
    const missingBins = Object.keys(REQUIRED).filter((b) => !binaryPresent(b));
    log(`missing: ${missingBins.join(' ')}`);
    log(`run:  ${sudo}apt-get install -y --no-install-recommends ${list}`);
  } else {
    log(`installing missing Debian packages: ${list} (apt-get install -y --no-install-recommends ${list})`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const install = () =>
      run('apt-get', ['install', '-y', '--no-install-recommends', ...missingPkgs], env);
    let updated = false;
    if (aptListsEmpty()) {
      log('apt lists are empty: apt-get update');
      run('apt-get', ['update'], env);
      updated = true;
    }
    let ok = install();
    if (!ok && !updated) {
      log('install failed; retrying after apt-get update');
      run('apt-get', ['update'], env);
      ok = install();
    }
    const still = Object.keys(REQUIRED).filter((b) => !binaryPresent(b));
    if (!ok || still.length > 0) {
      fail([
        `test-prereqs: installing ${list} failed${still.length ? ` (still missing: ${still.join(' ')})` : ''}`,
      ]);
    }
    log(`installed ${list}`);
  }
}

// --- 2. Test user -------------------------------------------------------------
function userExists(name) {
  const r = spawnSync('id', ['-u', name], { stdio: 'ignore' });
  return r.status === 0;
}

if (!userExists(TEST_USER)) {
  // A user with no password is *locked*; with `UsePAM no`, sshd refuses locked accounts.
  // `usermod -p '*'` sets an impossible password instead: no password login, not locked.
  if (isRoot) {
    log(`creating test user ${TEST_USER} (useradd -m -s /bin/bash ${TEST_USER}; usermod -p '*' ${TEST_USER})`);
    if (!run('useradd', ['-m', '-s', '/bin/bash', TEST_USER]) || !run('usermod', ['-p', '*', TEST_USER])) {
      fail([`test-prereqs: could not create user ${TEST_USER}`]);
    }
  } else {
    problems++;
    log(`missing test user ${TEST_USER}; run:`);
    log(`  sudo useradd -m -s /bin/bash ${TEST_USER} && sudo usermod -p '*' ${TEST_USER}`);
  }
}

// --- 3. sshd privilege-separation directory -----------------------------------
if (isRoot) {
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
} else if (!existsSync('/run/sshd')) {
  problems++;
  log('missing /run/sshd; run:  sudo mkdir -p /run/sshd');
}

// --- 4. Services --------------------------------------------------------------
// Redis at REDIS_URL (default redis://127.0.0.1:6379), for the queue and the service tests.
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
// Exactly how this machine runs it (no systemd here; nothing is started by the install).
const REDIS_ARGS = [
  '--daemonize', 'yes', '--bind', '127.0.0.1', '-::1', '--port', '6379', '--save', '', '--appendonly', 'no',
  '--dir', '/var/lib/redis', '--logfile', '/var/log/redis/ci.log',
];

function parseRedisUrl(url) {
  try {
    const u = new URL(url);
    if (u.protocol !== 'redis:') return null;
    const host = u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1';
    return {
      host,
      port: u.port ? Number(u.port) : 6379,
      username: decodeURIComponent(u.username),
      password: decodeURIComponent(u.password),
    };
  } catch {
    return null;
  }
}

/** RESP-encodes a command. */
function resp(args) {
  return `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
}

/**
 * Sends the commands on one connection and resolves with the raw reply text once `done(text)`
 * says it is complete, or null when nothing answers (refused, time-out).
 */
function redisTalk(target, commands, done, timeoutMs = 2000) {
  return new Promise((resolve) => {
    let buf = '';
    let finished = false;
    const sock = connect({ host: target.host, port: target.port });
    const finish = (v) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => finish(buf || null), timeoutMs);
    sock.setEncoding('utf8');
    sock.on('connect', () => {
      const auth = target.password ? [resp(target.username ? ['AUTH', target.username, target.password] : ['AUTH', target.password])] : [];
      sock.write([...auth, ...commands].join(''));
    });
    sock.on('data', (d) => {
      buf += d;
      if (done(buf)) finish(buf);
    });
    sock.on('error', () => finish(buf || null));
    sock.on('close', () => finish(buf || null));
  });
}

async function redisPing(target) {
  const reply = await redisTalk(target, ['PING\r\n'], (b) => b.includes('+PONG') || b.startsWith('-') || /\r\n-/.test(b));
  if (reply === null) return { ok: false, why: 'nothing answers' };
  if (reply.includes('+PONG')) return { ok: true };
  return { ok: false, why: `answered ${JSON.stringify(reply.trim().slice(0, 200))}` };
}

async function redisMaxmemoryPolicy(target) {
  const reply = await redisTalk(target, [resp(['CONFIG', 'GET', 'maxmemory-policy'])], (b) => /maxmemory-policy\r\n\$\d+\r\n[^\r]*\r\n/.test(b) || /(^|\r\n)-/.test(b));
  const m = reply && /maxmemory-policy\r\n\$\d+\r\n([^\r]*)\r\n/.exec(reply);
  return m ? m[1] : null;
}

const redisTarget = parseRedisUrl(REDIS_URL);
if (redisTarget === null) {
  problems++;
  log(`REDIS_URL=${REDIS_URL} is not a redis://host:port URL`);
} else {
  let ping = await redisPing(redisTarget);
  const isLocalDefault = ['127.0.0.1', 'localhost', '::1'].includes(redisTarget.host) && redisTarget.port === 6379;
  if (!ping.ok && ping.why === 'nothing answers' && isRoot && isLocalDefault && binaryPresent('/usr/bin/redis-server')) {
    log(`no Redis at ${REDIS_URL}; starting one: redis-server ${REDIS_ARGS.map((a) => (a === '' ? '""' : a)).join(' ')}`);
    mkdirSync('/var/lib/redis', { recursive: true });
    mkdirSync('/var/log/redis', { recursive: true });
    const bin = existsSync('/usr/bin/redis-server') ? '/usr/bin/redis-server' : '/bin/redis-server';
    if (run(bin, REDIS_ARGS)) {
      for (let i = 0; i < 50 && !(ping = await redisPing(redisTarget)).ok; i++) await new Promise((r) => setTimeout(r, 100));
    }
  }
  if (!ping.ok) {
    problems++;
    log(`Redis at ${REDIS_URL}: ${ping.why} (expected +PONG to PING)`);
    if (isLocalDefault) {
      log(`start it:  ${sudo}mkdir -p /var/lib/redis /var/log/redis && ${sudo}redis-server ${REDIS_ARGS.map((a) => (a === '' ? '""' : a)).join(' ')}`);
      if (!binaryPresent('/usr/bin/redis-server')) log(`(install it first:  ${sudo}apt-get install -y --no-install-recommends redis-server)`);
    } else {
      log('start that Redis, or point REDIS_URL at one that answers (unset it for redis://127.0.0.1:6379)');
    }
  } else {
    // BullMQ needs Redis never to evict its keys.
    const policy = await redisMaxmemoryPolicy(redisTarget);
    if (policy === null) {
      log(`warning: could not read maxmemory-policy from ${REDIS_URL} (CONFIG GET refused?); BullMQ needs noeviction`);
    } else if (policy !== 'noeviction') {
      log(`warning: Redis at ${REDIS_URL} has maxmemory-policy ${policy}; BullMQ needs noeviction (redis-cli CONFIG SET maxmemory-policy noeviction)`);
    }
  }
}

if (problems > 0) {
  log(`${problems} problem(s) above; fix them and re-run \`npm test\`.`);
  process.exit(1);
}
