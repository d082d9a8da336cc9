/**
 * The Go stack: src/lab/stacks/go/*.go (net/http + database/sql + github.com/lib/pq, client_golang,
 * go-kit/log), compiled offline with Debian's Go toolchain in GOPATH mode against /usr/share/gocode.
 *
 * The binary is cached under `os.tmpdir()/triage-stacks/go-<sha256 of the sources, 12 hex>/lab-go`,
 * so every test (and every process) shares one build; a build goes to a temporary name in that
 * directory and is renamed into place, so two processes building at once both end with a whole binary.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PoolExport, StackRuntime, StackServiceSpec } from './types.js';

const DEBIAN_PACKAGES = ['golang-go', 'golang-github-lib-pq-dev', 'golang-github-prometheus-client-golang-dev'] as const;
const INSTALL_HINT = `apt-get install -y ${DEBIAN_PACKAGES.join(' ')}`;
const GO_EXPORTS: readonly PoolExport[] = [
  'none',
  'go-prometheus',
  'go-expvar',
  'go-log-plusv',
  'go-log-v',
  'go-logfmt',
  'go-json',
];
/** The import path our source gets inside the temporary GOPATH (shows up in callers of the JSON logs). */
const IMPORT_PATH = 'triage-lab-go';
const BINARY = 'lab-go';
const DEBIAN_GOCODE = '/usr/share/gocode';
/** Packages the build needs from DEBIAN_GOCODE (go-kit/log comes with client_golang's dependencies). */
const GO_LIBS = ['github.com/lib/pq', 'github.com/prometheus/client_golang/prometheus', 'github.com/go-kit/log'];
const BUILD_TIMEOUT_MS = 300_000;

/** src/lab/stacks/go, found from src/ (vitest, tsx) and from dist/ (compiled). */
function sourceDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [path.join(here, 'go'), path.resolve(here, '..', '..', '..', 'src', 'lab', 'stacks', 'go')];
  for (const c of candidates) if (fs.existsSync(path.join(c, 'main.go'))) return c;
  throw new Error(`Go lab sources not found (looked in ${candidates.join(', ')})`);
}

/** Sorted .go files and the first 12 hex digits of a sha256 over their names and contents. */
function sourceHash(dir: string): string {
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.go'))
    .sort();
  const h = createHash('sha256');
  for (const f of files) {
    h.update(f);
    h.update('\0');
    h.update(fs.readFileSync(path.join(dir, f)));
    h.update('\0');
  }
  return h.digest('hex').slice(0, 12);
}

function findGo(): string | null {
  for (const p of ['/usr/bin/go', '/usr/lib/go/bin/go', '/usr/local/go/bin/go']) if (fs.existsSync(p)) return p;
  return null;
}

function run(
  file: string,
  args: string[],
  opts: { cwd: string; env: NodeJS.ProcessEnv; signal?: AbortSignal },
): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { cwd: opts.cwd, env: opts.env, timeout: BUILD_TIMEOUT_MS, maxBuffer: 4 * 1024 * 1024, signal: opts.signal },
      (err, stdout, stderr) => {
        if (err && (err as NodeJS.ErrnoException).code === 'ABORT_ERR') return reject(err);
        if (err && typeof (err as NodeJS.ErrnoException).code === 'string') return reject(err); // ENOENT etc.
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, output: `${stdout}${stderr}` });
      },
    );
  });
}

function oneLine(s: string, max = 300): string {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length > max ? `${t.slice(0, max)}…` : t;
}

async function build(signal?: AbortSignal): Promise<string> {
  const src = sourceDir();
  const root = path.join(os.tmpdir(), 'triage-stacks');
  const outDir = path.join(root, `go-${sourceHash(src)}`);
  const binary = path.join(outDir, BINARY);
  if (fs.existsSync(binary)) return outDir;

  const go = findGo();
  if (go === null) throw new Error(`Go toolchain not found: ${INSTALL_HINT}`);
  const missing = GO_LIBS.filter((p) => !fs.existsSync(path.join(DEBIAN_GOCODE, 'src', p)));
  if (missing.length > 0) throw new Error(`Go libraries missing (${missing.join(', ')}): ${INSTALL_HINT}`);

  fs.mkdirSync(outDir, { recursive: true });
  const gocache = path.join(root, 'go-cache');
  fs.mkdirSync(gocache, { recursive: true });
  // A private GOPATH whose src/<IMPORT_PATH> is a symlink to our sources; Debian's gocode second.
  const gopath = fs.mkdtempSync(path.join(root, 'gopath-'));
  const tmpBinary = path.join(outDir, `.${BINARY}.${process.pid}.${Date.now()}.tmp`);
  try {
    fs.mkdirSync(path.join(gopath, 'src'));
    fs.symlinkSync(src, path.join(gopath, 'src', IMPORT_PATH));
    const env: NodeJS.ProcessEnv = {
      // a fixed, minimal environment: the build reads nothing of the caller's
      PATH: '/usr/local/bin:/usr/bin:/bin',
      HOME: root,
      GO111MODULE: 'off',
      GOPATH: `${gopath}:${DEBIAN_GOCODE}`,
      GOFLAGS: '',
      GOPROXY: 'off',
      GOCACHE: gocache,
      GOTOOLCHAIN: 'local',
      CGO_ENABLED: '0',
    };
    const r = await run(go, ['build', '-o', tmpBinary, IMPORT_PATH], {
      cwd: path.join(gopath, 'src', IMPORT_PATH),
      env,
      ...(signal ? { signal } : {}),
    });
    if (r.code !== 0) {
      const cannotFind = /cannot find package/.test(r.output);
      throw new Error(
        cannotFind
          ? `Go build of the lab service failed, a library is missing (${oneLine(r.output, 200)}): ${INSTALL_HINT}`
          : `Go build of the lab service failed: ${oneLine(r.output)}`,
      );
    }
    fs.renameSync(tmpBinary, binary); // atomic: a concurrent build's rename just replaces an identical file
    return outDir;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && (err as NodeJS.ErrnoException).path === go) {
      throw new Error(`Go toolchain not found: ${INSTALL_HINT}`);
    }
    throw err;
  } finally {
    fs.rmSync(tmpBinary, { force: true });
    fs.rmSync(gopath, { recursive: true, force: true });
  }
}

/** lib/pq requires TLS unless told otherwise (its default is sslmode=require); the lab's PostgreSQL has none. */
function withSslModeDisable(dsn: string): string {
  if (/[?&]sslmode=/.test(dsn) || !/^postgres(ql)?:\/\//.test(dsn)) return dsn;
  return `${dsn}${dsn.includes('?') ? '&' : '?'}sslmode=disable`;
}

function command(spec: StackServiceSpec, buildDir: string): { argv: string[] } {
  return {
    argv: [
      path.join(buildDir, BINARY),
      '-port',
      String(spec.port),
      '-host',
      spec.host,
      '-dsn',
      withSslModeDisable(spec.dsn),
      '-pool-max',
      String(spec.poolMax),
      '-query-ms',
      String(spec.queryMs),
      '-behaviour',
      spec.behaviour,
      '-pool-export',
      spec.poolExport,
      '-log-dir',
      spec.logDir,
      '-query-context',
      spec.queryContext ?? 'request',
      '-conn-max-lifetime',
      `${spec.connMaxLifetimeMs ?? 0}ms`,
    ],
  };
}

export const goRuntime: StackRuntime = {
  id: 'go',
  exports: GO_EXPORTS,
  debianPackages: DEBIAN_PACKAGES,
  build,
  command,
};
