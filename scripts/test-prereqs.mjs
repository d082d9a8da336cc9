#!/usr/bin/env node
// Makes sure this machine has what the test suite needs (run first by `npm test`).
// Plain Node ESM, no dependencies. Idempotent; silent and fast when everything is present.
//
// As root on Debian it installs what is missing; otherwise it prints the exact commands
// to run and exits 1. It never reads stdin (CI has none).

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';

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
  // Later issues:
  // '/usr/bin/prometheus-alertmanager': 'prometheus-alertmanager',
  // '/usr/bin/redis-server': 'redis-server',
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
// TODO(redis): check Redis at process.env.REDIS_URL (default redis://127.0.0.1:6379)
// once the queue tests need it: connect with node:net, send "PING\r\n", expect "+PONG".

if (problems > 0) {
  log(`${problems} problem(s) above; fix them and re-run \`npm test\`.`);
  process.exit(1);
}
