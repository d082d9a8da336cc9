import { z } from 'zod';
import { TriageError, asTriageError } from '../core/errors.js';
import type { Facts, Finding } from '../core/facts.js';
import { defineStep, type StepContext } from '../engine/step.js';
import { shellJoin, type CommandResult } from '../integrations/exec/executor.js';
import { fdListingArgv } from './fds.js';
import { discoverLogPaths } from './logs.js';
import { redactSecrets } from './parse/logs.js';
import { parseFdListing, parseTailSections } from './parse/proc.js';

const Input = z.object({
  pid: z.number({ error: 'needs the PID of the service, which the process step did not find' }).int().positive().describe('PID of the service'),
  port: z.number().int().min(1).max(65535).describe('port the service listens on, for the socket table'),
  logPaths: z.array(z.string().startsWith('/')).max(16).optional().describe('log files to tail; default: the .log files among the open descriptors'),
  logTailLines: z.number().int().positive().max(20_000).optional().describe('lines to read from the end of each log file'),
});
type Input = z.infer<typeof Input>;

/** Per-section caps; past either the content is cut and the section marked truncated. */
export const SECTION_MAX_LINES = 20_000;
export const SECTION_MAX_BYTES = 4 * 1024 * 1024;
/** Threads whose comm/wchan/stat are read. */
export const MAX_THREADS = 64;
export const DEFAULT_LOG_TAIL_LINES = 200;

import type { ForensicsFacts, ForensicsSection } from '../core/facts.js';
export type { ForensicsFacts, ForensicsSection };

/** One command's outcome as collected; `failure` when it could not run at all. */
interface RawSection {
  name: string;
  command: string;
  exitCode: number | null;
  stdout: string;
  stderr: string;
  truncated: boolean;
  failure?: string;
  /** How to turn stdout into section content in analyze. */
  format?: 'threads' | 'nul-entries';
  /** Threads that exist beyond the ones read. */
  omitted?: number;
}

interface Raw {
  takenAt: number;
  host: string;
  sections: RawSection[];
}

const EXEC_MAX_BYTES = SECTION_MAX_BYTES + 64 * 1024;

async function runSection(ctx: StepContext<Input>, name: string, argv: string[], command = shellJoin(argv)): Promise<RawSection> {
  try {
    const res: CommandResult = await ctx.exec.run(argv, { signal: ctx.signal, timeoutMs: ctx.commandTimeoutMs, maxOutputBytes: EXEC_MAX_BYTES });
    return { name, command, exitCode: res.exitCode, stdout: res.stdout, stderr: res.stderr, truncated: res.truncated };
  } catch (err) {
    return { name, command, exitCode: null, stdout: '', stderr: '', truncated: false, failure: asTriageError(err).message };
  }
}

/** Threads: list the task ids, then one `tail` over their comm, stat and wchan files. */
async function threadSections(ctx: StepContext<Input>, pid: number): Promise<RawSection[]> {
  const listArgv = ['find', `/proc/${pid}/task`, '-mindepth', '1', '-maxdepth', '1', '-printf', '%f\\n'];
  const list = await runSection(ctx, 'threads', listArgv);
  const tids = list.stdout
    .split('\n')
    .filter((l) => /^\d{1,10}$/.test(l))
    .map(Number)
    .sort((a, b) => (a === pid ? -1 : b === pid ? 1 : a - b));
  if (tids.length === 0) return [{ ...list, stdout: '' }];
  const shown = tids.slice(0, MAX_THREADS);
  const files = shown.flatMap((t) => ['comm', 'stat', 'wchan'].map((f) => `/proc/${pid}/task/${t}/${f}`));
  const tailArgv = ['tail', '-n', '+1', '--', ...files];
  const command = `${shellJoin(listArgv)}; tail -n +1 -- /proc/${pid}/task/TID/{comm,stat,wchan} (${shown.length} threads)`;
  const tail = await runSection(ctx, 'threads', tailArgv, command);
  const out: RawSection[] = [{ ...tail, format: 'threads', omitted: tids.length - shown.length }];
  // A JVM: a thread dump through jcmd/jstack (a safepoint, the process is neither stopped nor killed).
  const mainComm = parseTailSections(tail.stdout).find((s) => s.path === `/proc/${pid}/task/${pid}/comm`)?.content.trim();
  if (mainComm === 'java') {
    const which = await runSection(ctx, 'jvm-threads', ['which', 'jcmd', 'jstack']);
    const found = which.stdout.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('/'));
    const jcmd = found.find((p) => p.endsWith('/jcmd'));
    const jstack = found.find((p) => p.endsWith('/jstack'));
    if (jcmd) out.push(await runSection(ctx, 'jvm-threads', [jcmd, String(pid), 'Thread.print']));
    else if (jstack) out.push(await runSection(ctx, 'jvm-threads', [jstack, String(pid)]));
    else out.push({ ...which, failure: 'a JVM, but neither jcmd nor jstack is installed' });
  }
  return out;
}

/**
 * A snapshot of the instance before a restart destroys the evidence: descriptors, its sockets on the
 * port, status, limits, memory map, threads and log tails. Each section may fail on its own.
 */
export const forensicsStep = defineStep<Input, Raw>({
  id: 'forensics',
  description: 'snapshot the instance before a restart',
  input: Input,
  needs: ['process'],
  async collect(ctx) {
    const { pid, port } = ctx.input;
    const takenAt = ctx.now();
    const fds = runSection(ctx, 'fds', fdListingArgv(pid)).then((s): RawSection => ({ ...s, format: 'nul-entries' }));
    const logs = (async (): Promise<RawSection[]> => {
      const paths = ctx.input.logPaths ?? discoverLogPaths(parseFdListing((await fds).stdout).filePaths);
      const n = String(ctx.input.logTailLines ?? DEFAULT_LOG_TAIL_LINES);
      return Promise.all(paths.map((p) => runSection(ctx, `log ${p}`, ['tail', '-n', n, '--', p])));
    })();
    const parts = await Promise.all([
      fds.then((s) => [s]),
      runSection(ctx, 'sockets', ['ss', '-Htanpe', 'sport', '=', `:${port}`]).then((s) => [s]),
      runSection(ctx, 'status', ['cat', '--', `/proc/${pid}/status`]).then((s) => [s]),
      runSection(ctx, 'limits', ['cat', '--', `/proc/${pid}/limits`]).then((s) => [s]),
      runSection(ctx, 'memory map', ['pmap', '-x', String(pid)]).then((s) => [s]),
      threadSections(ctx, pid),
      logs,
    ]);
    const sections = parts.flat();
    if (ctx.signal.aborted) throw new TriageError('aborted', 'forensics: aborted');
    if (sections.every((s) => s.stdout.trim() === '')) {
      const why = sections.map((s) => `${s.name}: ${s.failure ?? firstLine(s.stderr) ?? `exit ${s.exitCode}`}`).slice(0, 3).join('; ');
      throw new TriageError('command_failed', `forensics: no section produced any output (${why})`);
    }
    return { takenAt, host: ctx.exec.host, sections };
  },
  analyze(samples, input) {
    const raw = samples[samples.length - 1]?.raw;
    if (!raw) return { facts: {}, findings: [] };
    const forensics: ForensicsFacts = {
      pid: input.pid,
      takenAt: new Date(raw.takenAt).toISOString(),
      host: raw.host,
      sections: raw.sections.map(toSection),
    };
    const failed = forensics.sections.filter((s) => !s.ok);
    const truncated = forensics.sections.filter((s) => s.truncated);
    const { filename } = renderSnapshot(forensics);
    const findings: Finding[] = [
      {
        id: 'forensics-snapshot',
        step: 'forensics',
        severity: 'info',
        title: `forensics snapshot ${filename}: ${forensics.sections.length - failed.length}/${forensics.sections.length} sections`,
        detail:
          forensics.sections.map((s) => `${s.name} ${s.ok ? `${s.lines} lines` : 'failed'}${s.truncated ? ' (truncated)' : ''}`).join(', ') +
          (truncated.length ? `; truncated at ${SECTION_MAX_LINES} lines / ${SECTION_MAX_BYTES / 1024 / 1024} MiB` : ''),
        ...(failed.length ? { evidence: failed.map((s) => `${s.name}: ${s.error ?? 'failed'}`) } : {}),
      },
    ];
    // Facts has no `forensics` key yet; typed locally so the object still is a Partial<Facts>.
    const facts: Partial<Facts> & { forensics: ForensicsFacts } = { forensics };
    return { facts, findings };
  },
});

function firstLine(text: string): string | undefined {
  const l = text.trim().split('\n')[0]?.trim();
  return l ? l : undefined;
}

/** Pure: redacts, caps and formats one collected command. */
function toSection(raw: RawSection): ForensicsSection {
  const ok = raw.failure === undefined && raw.exitCode === 0;
  let text = raw.stdout;
  let extraTruncated = false;
  if (raw.format === 'threads') {
    text = threadTable(raw.stdout, raw.omitted ?? 0);
    extraTruncated = (raw.omitted ?? 0) > 0;
  } else if (raw.format === 'nul-entries') {
    // One line per entry; a newline inside a file name is shown as \n, not as a line of its own.
    text = raw.stdout.split('\0').filter((e) => e !== '').map((e) => e.replace(/\n/g, '\\n')).join('\n');
  }
  const capped = capLines(text);
  const error = raw.failure ?? (ok ? undefined : (firstLine(raw.stderr) ?? (raw.exitCode !== null ? `exit ${raw.exitCode}` : 'no exit status')));
  return {
    name: raw.name,
    command: raw.command,
    ok,
    truncated: raw.truncated || capped.truncated || extraTruncated,
    lines: capped.lines,
    content: capped.content,
    ...(error !== undefined ? { error: redactSecrets(error.slice(0, 500)) } : {}),
  };
}

/** Redacts line by line, keeping at most SECTION_MAX_LINES lines and SECTION_MAX_BYTES bytes. */
function capLines(text: string): { content: string; lines: number; truncated: boolean } {
  const out: string[] = [];
  let bytes = 0;
  let truncated = false;
  let start = 0;
  const body = text.endsWith('\n') ? text.slice(0, -1) : text;
  if (body === '') return { content: '', lines: 0, truncated: false };
  while (start <= body.length) {
    if (out.length >= SECTION_MAX_LINES) {
      truncated = true;
      break;
    }
    let end = body.indexOf('\n', start);
    if (end < 0) end = body.length;
    const line = redactSecrets(body.slice(start, end));
    const size = Buffer.byteLength(line, 'utf8') + 1;
    if (bytes + size > SECTION_MAX_BYTES) {
      truncated = true;
      break;
    }
    out.push(line);
    bytes += size;
    start = end + 1;
  }
  return { content: out.join('\n'), lines: out.length, truncated };
}

/** `tail` over /proc/PID/task/TID/{comm,stat,wchan} → `TID STATE COMM WCHAN` rows. */
function threadTable(tailOut: string, omitted: number): string {
  const rows = new Map<string, { comm: string; state: string; wchan: string }>();
  for (const s of parseTailSections(tailOut)) {
    const m = /\/task\/(\d+)\/(comm|stat|wchan)$/.exec(s.path);
    if (!m) continue;
    const tid = m[1] ?? '';
    const row = rows.get(tid) ?? { comm: '?', state: '?', wchan: '?' };
    const v = s.content.trim();
    if (m[2] === 'comm') row.comm = v || '?';
    else if (m[2] === 'wchan') row.wchan = v === '' || v === '0' ? '-' : v;
    else row.state = /\)\s+(\S)/.exec(v.slice(v.lastIndexOf(')')))?.[1] ?? '?';
    rows.set(tid, row);
  }
  if (rows.size === 0) return '';
  const comm = Math.max(4, ...[...rows.values()].map((r) => r.comm.length));
  const lines = [`${'TID'.padEnd(8)} S ${'COMM'.padEnd(comm)} WCHAN`];
  for (const [tid, r] of rows) lines.push(`${tid.padEnd(8)} ${r.state} ${r.comm.padEnd(comm)} ${r.wchan}`);
  if (omitted > 0) lines.push(`(${omitted} more threads not read)`);
  return lines.join('\n') + '\n';
}

/** `2026-11-25T05:00:00.123Z` → `20261125T050000Z`. */
function compactTime(iso: string): string {
  return iso.replace(/\.\d+(?=Z$)/, '').replace(/[-:]/g, '');
}

/** Pure: the snapshot as one text file, to store with the incident and attach to the chat thread. */
export function renderSnapshot(facts: ForensicsFacts): { filename: string; content: string } {
  const stamp = compactTime(facts.takenAt).replace(/[^0-9A-Za-z]/g, '');
  const filename = `forensics-${facts.pid}-${stamp}.txt`;
  const ok = facts.sections.filter((s) => s.ok).length;
  const out: string[] = [
    `triage forensics snapshot`,
    `pid:      ${facts.pid}`,
    ...(facts.host ? [`host:     ${facts.host}`] : []),
    `taken at: ${facts.takenAt}`,
    `sections: ${facts.sections.length} (${ok} ok, ${facts.sections.length - ok} failed)`,
    'secrets in the output were replaced by [REDACTED]',
  ];
  for (const s of facts.sections) {
    out.push('', `===== ${s.name}: ${s.command} =====`);
    if (s.error !== undefined) out.push(`(${s.ok ? 'warning' : 'failed'}: ${s.error})`);
    if (s.content !== '') out.push(s.content);
    else if (s.ok) out.push('(no output)');
    if (s.truncated) out.push(`(truncated: ${s.lines} lines kept)`);
  }
  return { filename, content: out.join('\n') + '\n' };
}
