import { z } from 'zod';
import { TriageError } from '../core/errors.js';
import type { Finding, LogFacts, LogFile } from '../core/facts.js';
import { defineStep } from '../engine/step.js';
import { listFds } from './fds.js';
import { latencyTrend, redactSecrets, scanLogLines } from './parse/logs.js';
import { poolFromLogLine } from './parse/pool.js';
import { parseFdListing, parseTailSections } from './parse/proc.js';

const Input = z
  .object({
    pid: z.number().int().positive().optional().describe('PID, to discover log files among its open descriptors'),
    accessLogs: z.array(z.string().startsWith('/')).default([]).describe('configured access log paths'),
    errorLogs: z.array(z.string().startsWith('/')).default([]).describe('configured error log paths'),
    logTailLines: z.number().int().positive().describe('lines to read from the end of each file'),
  })
  .refine((i) => i.pid !== undefined || i.accessLogs.length + i.errorLogs.length > 0, {
    message: 'no log paths configured and no process to discover them from',
  });
type Input = z.infer<typeof Input>;

/** Lines of each file kept in the facts as they were last written. */
export const KEEP_LINES = 200;
/** Of the lines before those, at most this many that matter are kept too. */
const KEEP_NOTABLE = 200;
const NOTABLE_RE = /too many open files|EMFILE|ENFILE|pool|stats|timed? ?out|connection|dial tcp|refused/i;

/** The last KEEP_LINES lines, preceded by the notable lines (errors, pool statistics) of the rest, oldest first. */
export function keepLines(lines: string[]): string[] {
  if (lines.length <= KEEP_LINES) return lines;
  const head = lines.slice(0, -KEEP_LINES);
  const notable = head.filter((l) => NOTABLE_RE.test(l) && !/Accept error|accept4/.test(l) || poolFromLogLine(l, '') !== null);
  return [...notable.slice(-KEEP_NOTABLE), ...lines.slice(-KEEP_LINES)];
}

/** Cap on the output of one `tail` over all the files. */
const TAIL_MAX_BYTES = 4 * 1024 * 1024;
/** At most this many discovered files are read. */
const MAX_FILES = 6;
/** An access log silent for longer than this while the service is probed is worth saying. */
export const LOG_SILENCE_SEC = 30;

interface Raw {
  files: { path: string; kind: LogFile['kind'] }[];
  tail: string;
  stat: string;
  hostNow: number;
  /** The tail output hit the step's cap (enormous lines or binary data): the last file's tail is incomplete. */
  truncated?: boolean;
}

export function classifyLogPath(path: string): LogFile['kind'] {
  const name = path.slice(path.lastIndexOf('/') + 1).toLowerCase();
  if (name.includes('access')) return 'access';
  if (/err/.test(name)) return 'error';
  return 'app';
}

/** Pure: which of a process's open files look like logs. */
export function discoverLogPaths(paths: readonly string[]): string[] {
  return paths
    .filter((p) => !p.endsWith(' (deleted)') && !/^\/(dev|proc|sys)\//.test(p))
    .filter((p) => /\.log(\.\d+)?$|\/logs?\//.test(p))
    .slice(0, MAX_FILES);
}

/** Tails of the access and error logs, how long since they were written, error signatures, latency trend. */
export const logsStep = defineStep<Input, Raw>({
  id: 'logs',
  description: 'read the access and error logs',
  input: Input,
  needs: ['process'],
  async collect(ctx) {
    const { pid, accessLogs, errorLogs, logTailLines } = ctx.input;
    let files: Raw['files'] = [...accessLogs.map((path) => ({ path, kind: 'access' as const })), ...errorLogs.map((path) => ({ path, kind: 'error' as const }))];
    if (files.length === 0 && pid !== undefined) {
      files = discoverLogPaths(parseFdListing(await listFds(ctx, pid)).filePaths).map((path) => ({ path, kind: classifyLogPath(path) }));
    }
    if (files.length === 0) return { files, tail: '', stat: '', hostNow: ctx.now() / 1000 };
    const opts = { signal: ctx.signal, timeoutMs: ctx.commandTimeoutMs, maxOutputBytes: TAIL_MAX_BYTES };
    const paths = files.map((f) => f.path);
    const [tail, stat, date] = await Promise.all([
      ctx.exec.run(['tail', '-n', String(logTailLines), '--', ...paths], opts),
      ctx.exec.run(['stat', '-c', '%s|%Y|%n', '--', ...paths], opts),
      ctx.exec.run(['date', '+%s'], opts),
    ]);
    if (tail.stdout === '' && tail.exitCode !== 0) throw new TriageError('command_failed', `tail: ${tail.stderr.trim().split('\n')[0] ?? 'failed'}`);
    // tail prints no `==> path <==` header for a single file; give it one so sections always carry paths.
    const text = paths.length === 1 ? `==> ${paths[0]} <==\n${tail.stdout}` : tail.stdout;
    return { files, tail: text, stat: stat.stdout, hostNow: Number(date.stdout.trim()) || ctx.now() / 1000, ...(tail.truncated ? { truncated: true } : {}) };
  },
  analyze(samples) {
    const raw = samples[samples.length - 1]?.raw;
    if (!raw) return { facts: {}, findings: [] };
    const sections = parseTailSections(raw.tail);
    const stats = new Map<string, { size: number; mtime: number }>();
    for (const line of raw.stat.split('\n')) {
      const [size, mtime, ...rest] = line.split('|');
      if (rest.length) stats.set(rest.join('|'), { size: Number(size), mtime: Number(mtime) });
    }
    const files: LogFile[] = raw.files.map(({ path, kind }) => {
      const content = sections.find((s) => s.path === path)?.content ?? '';
      const st = stats.get(path);
      return {
        path,
        kind,
        sizeBytes: st?.size ?? 0,
        lastWriteAgeSec: st ? Math.max(0, Math.round(raw.hostNow - st.mtime)) : null,
        tail: content.split('\n').filter((l) => l !== '').map((l) => redactSecrets(l.slice(0, 2000))),
      };
    });
    // Signatures count over everything read; the facts keep the last KEEP_LINES lines of each file
    // and, before them, the lines that matter from the rest (an accept-error storm must not push the
    // driver's "too many open files" or the pool-stats lines out of sight).
    const all = scanLogLines(files.flatMap((f) => f.tail));
    const access = files.filter((f) => f.kind === 'access');
    const durations = access.length ? scanLogLines(access.flatMap((f) => f.tail)).durationsMs : all.durationsMs;
    for (const f of files) f.tail = keepLines(f.tail);
    const logs: LogFacts = { files, signatures: all.signatures, latency: latencyTrend(durations) };
    const findings: Finding[] = [];
    if (files.length === 0) {
      findings.push({ id: 'logs-none', step: 'logs', severity: 'info', title: 'no log files found', detail: 'none configured and none among the open descriptors' });
      return { facts: { logs }, findings };
    }
    const sig = logs.signatures;
    if (sig.emfile > 0) {
      findings.push({ id: 'logs-emfile', step: 'logs', severity: 'critical', title: `${sig.emfile} "too many open files" lines`, detail: 'the process hit its descriptor limit', evidence: grep(files, /too many open files|EMFILE/i) });
    }
    if (sig.dbConnectEmfile > 0) {
      findings.push({
        id: 'logs-db-connect-emfile',
        step: 'logs',
        severity: 'critical',
        title: `${sig.dbConnectEmfile} DB connection attempts failed: too many open files`,
        detail: 'the driver could not open a new database connection because the process is out of descriptors, so the pool cannot grow or replace connections',
      });
    }
    if (sig.enfile > 0) {
      findings.push({ id: 'logs-enfile', step: 'logs', severity: 'critical', title: `${sig.enfile} "too many open files in system" lines`, detail: "the host's file table was full when the process tried to open a file" });
    }
    if (sig.poolTimeout > 0) {
      findings.push({ id: 'logs-pool-timeout', step: 'logs', severity: 'warning', title: `${sig.poolTimeout} DB pool wait/time-out lines`, detail: 'requests waited for a database connection', evidence: grep(files, /pool|connection/i) });
    }
    if (sig.acceptError > 0) {
      findings.push({ id: 'logs-accept-error', step: 'logs', severity: 'critical', title: `${sig.acceptError} accept errors`, detail: 'the server failed to accept connections', evidence: grep(files, /accept/i) });
    }
    const lat = logs.latency;
    if (lat.trend === 'rising') {
      findings.push({ id: 'latency-rising', step: 'logs', severity: 'warning', title: `latency rising: p50 ${lat.earlyP50Ms} → ${lat.lateP50Ms} ms`, detail: `over the last ${lat.samples} access-log lines` });
    }
    for (const f of access) {
      if (f.lastWriteAgeSec !== null && f.lastWriteAgeSec >= LOG_SILENCE_SEC) {
        findings.push({ id: 'access-log-silent', step: 'logs', severity: 'warning', title: `access log silent for ${f.lastWriteAgeSec} s`, detail: `${f.path}: no request has completed since` });
      }
    }
    if (raw.truncated) {
      findings.push({ id: 'logs-truncated', step: 'logs', severity: 'info', title: `log tails cut at ${TAIL_MAX_BYTES / 1024 / 1024} MiB`, detail: `tail's output stopped at the cap (enormous lines or binary data): what is shown of ${files[files.length - 1]?.path ?? 'the last file'} is incomplete` });
    }
    findings.push({
      id: 'logs-read',
      step: 'logs',
      severity: 'info',
      title: `read ${files.length} log file${files.length === 1 ? '' : 's'}`,
      detail: files.map((f) => `${f.path} (${f.kind}, last write ${f.lastWriteAgeSec ?? '?'} s ago)`).join('; ') + (lat.samples ? `; latency p50 ${lat.earlyP50Ms} → ${lat.lateP50Ms} ms over ${lat.samples} lines` : ''),
      evidence: files.flatMap((f) => f.tail.slice(-3)),
    });
    return { facts: { logs }, findings };
  },
});

function grep(files: LogFile[], re: RegExp): string[] {
  return files.flatMap((f) => f.tail.filter((l) => re.test(l))).slice(-5);
}
