/**
 * The real-stack lab's Java runtime: src/lab/stacks/java/*.java (JDK HttpServer on a fixed worker
 * pool, HikariCP 2.7.9 + PostgreSQL JDBC + slf4j-simple, all Debian jars from /usr/share/java),
 * compiled with javac once per source hash into `os.tmpdir()/triage-stacks/java-<sha256[0:12]>/`.
 *
 * No Maven: the classpath is Debian's jars only. Exports: none, java-actuator, java-metrics, java-log
 * (see LabService.java for what each publishes).
 */
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { PoolExport, StackRuntime, StackServiceSpec } from './types.js';
import { findProjectRoot } from '../lab.js';

const JAR_DIR = '/usr/share/java';
/** Debian's unversioned symlinks: HikariCP 2.7.9, pgjdbc 42.x, slf4j 1.7.x (api + simple binding). */
const JARS = ['HikariCP.jar', 'postgresql.jar', 'slf4j-api.jar', 'slf4j-simple.jar'] as const;
const DEBIAN_PACKAGES = ['openjdk-17-jdk-headless', 'libhikaricp-java', 'libpostgresql-jdbc-java', 'libslf4j-java'] as const;
const INSTALL_HINT = `apt-get install -y --no-install-recommends ${DEBIAN_PACKAGES.join(' ')}`;
const MAIN_CLASS = 'LabService';
const JAVAC_TIMEOUT_MS = 180_000;

/** Start fast on a small busy machine: no JIT tiers beyond C1, serial GC, small stacks, no perf file. */
const JVM_FLAGS = ['-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-Xss512k', '-Xmx256m', '-XX:-UsePerfData', '-Xshare:auto'];

function sourceDir(): string {
  return path.join(findProjectRoot(), 'src', 'lab', 'stacks', 'java');
}

/** `name` where Debian's JDK puts it (the alternatives link, then the JDK 17 directory), resolved through symlinks, or null. */
function findOnPath(name: string): string | null {
  for (const d of ['/usr/bin', '/usr/lib/jvm/java-17-openjdk-amd64/bin', '/usr/lib/jvm/default-java/bin']) {
    const p = path.join(d, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return fs.realpathSync(p);
    } catch {
      /* next */
    }
  }
  return null;
}

/** The `java` next to the JDK's `javac` (same installation), else the one on PATH. */
function javaBinary(): string {
  const javac = findOnPath('javac');
  if (javac) {
    const java = path.join(path.dirname(javac), 'java');
    if (fs.existsSync(java)) return java;
  }
  return findOnPath('java') ?? 'java';
}

function jarPaths(): string[] {
  return JARS.map((j) => path.join(JAR_DIR, j));
}

function missing(what: string): Error {
  return new Error(`Java stack: ${what} missing; install with: ${INSTALL_HINT}`);
}

function run(file: string, args: string[], signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { signal, timeout: JAVAC_TIMEOUT_MS, maxBuffer: 4 * 1024 * 1024 }, (err, _stdout, stderr) => {
      if (err) {
        const detail = String(stderr).trim().split('\n').slice(0, 20).join('\n');
        reject(new Error(`javac failed: ${err.message}${detail ? `\n${detail}` : ''}`));
      } else resolve();
    });
  });
}

async function build(signal?: AbortSignal): Promise<string> {
  const javac = findOnPath('javac');
  if (!javac) throw missing('javac (JDK 17)');
  for (const jar of jarPaths()) if (!fs.existsSync(jar)) throw missing(jar);

  const srcDir = sourceDir();
  const sources = fs
    .readdirSync(srcDir)
    .filter((f) => f.endsWith('.java'))
    .sort();
  if (sources.length === 0) throw new Error(`Java stack: no .java sources in ${srcDir}`);
  const hash = crypto.createHash('sha256');
  for (const f of sources) {
    hash.update(f).update('\0').update(fs.readFileSync(path.join(srcDir, f))).update('\0');
  }
  const root = path.join(os.tmpdir(), 'triage-stacks');
  const dir = path.join(root, `java-${hash.digest('hex').slice(0, 12)}`);
  if (fs.existsSync(path.join(dir, `${MAIN_CLASS}.class`))) return dir;

  fs.mkdirSync(root, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(root, '.java-build-'));
  try {
    await run(
      javac,
      ['-encoding', 'UTF-8', '-nowarn', '-d', tmp, '-cp', jarPaths().join(':'), ...sources.map((f) => path.join(srcDir, f))],
      signal,
    );
    try {
      fs.renameSync(tmp, dir);
    } catch (err) {
      // another process finished the same build first: use its result
      if (!fs.existsSync(path.join(dir, `${MAIN_CLASS}.class`))) throw err;
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return dir;
}

function command(spec: StackServiceSpec, buildDir: string): { argv: string[] } {
  const props = [
    `-Dorg.slf4j.simpleLogger.logFile=${path.join(spec.logDir, 'app.log')}`,
    '-Dorg.slf4j.simpleLogger.showDateTime=true',
    '-Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd HH:mm:ss.SSS',
  ];
  if (spec.poolExport === 'java-log') {
    props.push('-Dorg.slf4j.simpleLogger.log.com.zaxxer.hikari=debug', '-Dcom.zaxxer.hikari.housekeeping.periodMs=1000');
  }
  return {
    argv: [
      javaBinary(),
      ...JVM_FLAGS,
      ...props,
      '-cp',
      [buildDir, ...jarPaths()].join(':'),
      MAIN_CLASS,
      '--port',
      String(spec.port),
      '--host',
      spec.host,
      '--dsn',
      spec.dsn,
      '--pool-max',
      String(spec.poolMax),
      '--query-ms',
      String(spec.queryMs),
      '--behaviour',
      spec.behaviour,
      '--pool-export',
      spec.poolExport,
      '--log-dir',
      spec.logDir,
    ],
  };
}

const EXPORTS: readonly PoolExport[] = ['none', 'java-actuator', 'java-metrics', 'java-log'];

export const javaRuntime: StackRuntime = {
  id: 'java',
  exports: EXPORTS,
  debianPackages: DEBIAN_PACKAGES,
  build,
  command,
};
