// Benchmark 2: a big sick process. A target holding 10,000 leaked file descriptors and 10,000
// sockets in CLOSE_WAIT (20,000+ descriptors, under nofile 32768); the bot investigates it as the
// CLI does (`triage investigate connreset 127.0.0.1:PORT --local --json --samples 1`, a child
// process): collection + analysis time from the report, the process's wall time, its peak RSS.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import readline from 'node:readline';
import type { Report } from '../src/engine/report.js';
import { freePort } from '../test/helpers/ports.js';
import { onCleanup, signalPid, sleep } from './lib-env.js';
import { median, type BenchResult } from './result.js';
import { fmtMs, round } from './single-instance.js';

const CLOSE_WAIT = 10_000;
/** Leaked file descriptors: 10,000, or fewer when this machine's hard nofile limit leaves no room. */
const WANT_FILES = 10_000;
const WANT_NOFILE = 32_768;
/** Descriptors node itself and the listener use, kept free under the limit. */
const HEADROOM = 100;
const GOAL_MS = 1000;
const GOAL_RSS_MB = 150;

const ROOT = join(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist', 'cli.js');
/** Loaded into the bot's process: its peak RSS (getrusage ru_maxrss, KiB) written on exit. */
const RSS_PRELOAD =
  'data:text/javascript,' +
  encodeURIComponent("import { writeFileSync } from 'node:fs'; process.on('exit', () => writeFileSync(process.env.BENCH_RSS_FILE, String(process.resourceUsage().maxRSS)));");

function sh(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { maxBuffer: 64 * 1024 * 1024 }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
  });
}

async function closeWaitCount(port: number): Promise<number> {
  const out = await sh('ss', ['-Htan', 'state', 'close-wait', `( sport = :${port} )`]);
  return out.split('\n').filter((l) => l.trim() !== '').length;
}

function fdCount(pid: number): number {
  return statSync(`/proc/${pid}/fd`).size;
}

/** Our hard RLIMIT_NOFILE: without CAP_SYS_RESOURCE (containers) prlimit cannot go above it. */
function hardNofile(): number {
  const m = /^Max open files\s+\S+\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  return m?.[1] === undefined || m[1] === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(m[1]);
}

async function startTarget(dir: string, port: number, nofile: number, files: number): Promise<{ child: ChildProcess; pid: number }> {
  const child = spawn('prlimit', [`--nofile=${nofile}:${nofile}`, process.execPath, '--import', 'tsx', join(ROOT, 'bench', 'lib-sick-target.ts'), '--port', String(port), '--dir', dir, '--files', String(files)], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const ready = new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sick target did not start within 20 s: ${stderr.trim()}`)), 20_000);
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const ev = JSON.parse(line) as { event?: string; pid?: number };
        if (ev.event === 'ready' && typeof ev.pid === 'number') {
          clearTimeout(timer);
          resolve(ev.pid);
        }
      } catch {
        // not an event line
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`sick target exited (${code}): ${stderr.trim()}`));
    });
  });
  try {
    return { child, pid: await ready };
  } catch (err) {
    signalPid(child.pid, 'SIGKILL');
    throw err;
  }
}

/** Opens `count` connections, each hung up (FIN) and closed by the client right away, `parallel` at a time. */
async function hangUpClients(port: number, count: number, parallel = 256): Promise<void> {
  let next = 0;
  const one = () =>
    new Promise<void>((resolve) => {
      const sock = net.connect({ host: '127.0.0.1', port });
      sock.on('error', () => resolve());
      sock.on('connect', () => {
        sock.end(() => {
          sock.destroy();
          resolve();
        });
      });
    });
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < count) {
        next++;
        await one();
      }
    }),
  );
}

interface BotRun {
  wallMs: number;
  report: Report;
  maxRssKiB: number;
}

function runBot(port: number, rssFile: string): Promise<BotRun> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, ['--import', RSS_PRELOAD, CLI, 'investigate', 'connreset', `127.0.0.1:${port}`, '--local', '--json', '--samples', '1'], {
      env: { ...process.env, BENCH_RSS_FILE: rssFile },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => {
      const wallMs = performance.now() - t0;
      if (code !== 0) return reject(new Error(`triage investigate exited ${code}: ${err.trim().slice(0, 500)}`));
      try {
        resolve({ wallMs, report: JSON.parse(out) as Report, maxRssKiB: Number(readFileSync(rssFile, 'utf8')) });
      } catch (e) {
        reject(new Error(`triage investigate: ${(e as Error).message}; stderr: ${err.trim().slice(0, 500)}`));
      }
    });
  });
}

export async function run(opts: { runs: number }): Promise<BenchResult> {
  const runs = Math.max(5, opts.runs);
  const dir = mkdtempSync(join(tmpdir(), 'triage-bench-big-'));
  let target: { child: ChildProcess; pid: number } | undefined;
  const stopTarget = onCleanup(async () => {
    signalPid(target?.pid, 'SIGKILL');
    signalPid(target?.child.pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  try {
    const port = await freePort();
    const nofile = Math.min(WANT_NOFILE, hardNofile());
    const files = Math.min(WANT_FILES, nofile - CLOSE_WAIT - HEADROOM);
    target = await startTarget(dir, port, nofile, files);
    await hangUpClients(port, CLOSE_WAIT);
    const deadline = Date.now() + 30_000;
    let cw = 0;
    while (Date.now() < deadline && (cw = await closeWaitCount(port)) < CLOSE_WAIT) await sleep(200);
    if (cw < CLOSE_WAIT) throw new Error(`only ${cw} of ${CLOSE_WAIT} sockets reached CLOSE_WAIT on :${port}`);
    const fds = fdCount(target.pid);

    const rssFile = join(dir, 'maxrss');
    await runBot(port, rssFile); // warm-up (page cache, dist/ compiled by V8's code cache), not counted
    const all: BotRun[] = [];
    for (let i = 0; i < runs; i++) all.push(await runBot(port, rssFile));

    const collectMs = median(all.map((r) => r.report.durationMs));
    const wallMs = median(all.map((r) => r.wallMs));
    const rssMb = median(all.map((r) => r.maxRssKiB / 1024));
    const peakRssMb = Math.max(...all.map((r) => r.maxRssKiB / 1024));
    const last = all[all.length - 1]!.report;
    const seenFds = last.facts.fds?.open ?? null;
    const seenCw = last.facts.tcp?.closeWait.total ?? null;
    const failedSteps = last.steps.filter((s) => s.status === 'failed').map((s) => `${s.id}: ${s.error ?? ''}`);
    const accurate = seenFds !== null && seenFds >= fds - 5 && seenCw !== null && seenCw >= CLOSE_WAIT;
    const met = collectMs < GOAL_MS && rssMb < GOAL_RSS_MB && accurate;
    const notes = [
      `Target: one node process under \`prlimit --nofile=${nofile}:${nofile}\` holding ${files.toLocaleString('en-US')} descriptors on one leaked file${files < WANT_FILES ? ` (not ${WANT_FILES.toLocaleString('en-US')}: the hard nofile limit here is ${nofile}, and raising it needs CAP_SYS_RESOURCE)` : ''} and ${CLOSE_WAIT.toLocaleString('en-US')} sockets in CLOSE_WAIT on its port (clients that hung up; it never closes them): ${fds.toLocaleString('en-US')} descriptors open when measured. Its probe answers 200.`,
      `Bot: \`node dist/cli.js investigate connreset 127.0.0.1:PORT --local --json --samples 1\` as a child process, locally (no SSH), as root; one sample, so no sampling interval. Collection + analysis = the report's durationMs (every step, the diagnosis); wall = spawn to exit of the whole CLI process (Node start-up, module loading, JSON output included).`,
      `Peak RSS: getrusage(RUSAGE_SELF).ru_maxrss of the bot's process, written at exit by a preloaded one-liner (\`--import data:...\`); median ${round(rssMb)} MB, highest ${round(peakRssMb)} MB.`,
      `What the bot saw (last run): ${seenFds ?? '?'} descriptors open (${last.facts.fds?.countMethod ?? '?'}), ${seenCw ?? '?'} sockets in CLOSE_WAIT, ${last.facts.fds?.byKind.socket ?? '?'} sockets and ${last.facts.fds?.byKind.file ?? '?'} files among the descriptors; root cause ${last.diagnosis.rootCause?.id ?? 'none'}${failedSteps.length ? `; failed steps: ${failedSteps.join('; ')}` : ''}.`,
      `Per run (collection+analysis / wall ms, RSS MB): ${all.map((r) => `${r.report.durationMs} / ${Math.round(r.wallMs)}, ${round(r.maxRssKiB / 1024)}`).join('; ')}; one warm-up run not counted.`,
    ];
    if (!met) {
      const gaps: string[] = [];
      if (collectMs >= GOAL_MS) gaps.push(`${fmtMs(collectMs)} is not under 1 s`);
      if (rssMb >= GOAL_RSS_MB) gaps.push(`${round(rssMb)} MB is not under ${GOAL_RSS_MB} MB`);
      if (!accurate) gaps.push(`the report is not accurate (${seenFds} descriptors, ${seenCw} CLOSE_WAIT seen)`);
      notes.push(`Goal not met: ${gaps.join('; ')}.`);
    }
    return {
      name: 'big-process',
      title: `A big sick process: ${files.toLocaleString('en-US')} leaked file descriptors + ${CLOSE_WAIT.toLocaleString('en-US')} CLOSE_WAIT sockets, investigated locally`,
      goal: `collection + analysis < ${GOAL_MS / 1000} s, peak RSS < ${GOAL_RSS_MB} MB`,
      met,
      runs,
      figures: { collectMs: round(collectMs), wallMs: round(wallMs), peakRssMb: round(rssMb, 1), targetFds: fds, closeWaitSeen: seenCw ?? -1, fdsSeen: seenFds ?? -1 },
      summary: `${fmtMs(collectMs)} collection + analysis (${fmtMs(wallMs)} wall), peak RSS ${round(rssMb)} MB; saw ${seenFds ?? '?'} fds, ${seenCw ?? '?'} CLOSE_WAIT`,
      notes,
    };
  } finally {
    await stopTarget();
  }
}
