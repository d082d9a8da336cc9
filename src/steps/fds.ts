import { z } from 'zod';
import { TriageError } from '../core/errors.js';
import type { FdFacts, Finding } from '../core/facts.js';
import { defineStep, type StepContext } from '../engine/step.js';
import type { Executor } from '../integrations/exec/executor.js';
import { nofileLimit, parseFdListing, parseFileNr, parseTailSections } from './parse/proc.js';

export const PidInput = z.object({
  pid: z.number({ error: 'needs the PID of the service, which the process step did not find' }).int().positive().describe('PID of the service'),
});
type Input = z.infer<typeof PidInput>;

/** Share of the soft limit at which descriptors are reported as nearly exhausted. */
export const FD_WARN_RATIO = 0.8;
export const FD_CRITICAL_RATIO = 0.95;

/** The `find` invocation that lists a process's descriptors as NUL-terminated `<fd> <link target>` entries. */
export function fdListingArgv(pid: number): string[] {
  return ['find', `/proc/${pid}/fd`, '-mindepth', '1', '-maxdepth', '1', '-printf', '%f %l\\0'];
}

/** Listings in flight, by executor and PID. */
const listings = new WeakMap<Executor, Map<number, Promise<string>>>();

/**
 * The process's descriptors as `<fd> <link target>` lines. The fds, tcp-states and logs steps all
 * want the listing as soon as the process is found: callers that ask while one is in flight on the
 * same executor share it (one `find` on the host, not three; 20,000 lines each on a sick process).
 * A later call, e.g. the next sample, lists again. The first caller's signal and time-out govern.
 */
export function listFds(ctx: StepContext<unknown>, pid: number): Promise<string> {
  let byPid = listings.get(ctx.exec);
  if (!byPid) listings.set(ctx.exec, (byPid = new Map()));
  const pending = byPid.get(pid);
  if (pending) return pending;
  const listing = (async () => {
    const res = await ctx.exec.run(fdListingArgv(pid), { signal: ctx.signal, timeoutMs: ctx.commandTimeoutMs });
    if (res.exitCode !== 0 && res.stdout === '') {
      throw new TriageError('command_failed', `cannot list /proc/${pid}/fd: ${res.stderr.trim().split('\n')[0] ?? `exit ${res.exitCode}`}`);
    }
    return res.stdout;
  })();
  const forget = () => {
    if (byPid.get(pid) === listing) byPid.delete(pid);
  };
  listing.then(forget, forget);
  byPid.set(pid, listing);
  return listing;
}

interface Raw {
  statSize: number | null;
  listing: string;
  limits: string;
  fileNr: string;
}

/** Open descriptors against the process's limit, by kind, and the host's file table. */
export const fdsStep = defineStep<Input, Raw>({
  id: 'fds',
  description: 'count open descriptors against the limit',
  input: PidInput,
  needs: ['process'],
  sampled: true,
  async collect(ctx) {
    const { pid } = ctx.input;
    const opts = { signal: ctx.signal, timeoutMs: ctx.commandTimeoutMs };
    const [stat, listing, tail] = await Promise.all([
      ctx.exec.run(['stat', '-c', '%s', `/proc/${pid}/fd`], opts),
      listFds(ctx, pid),
      ctx.exec.run(['tail', '-n', '+1', '--', `/proc/${pid}/limits`, '/proc/sys/fs/file-nr'], opts),
    ]);
    const sections = parseTailSections(tail.stdout);
    const limits = sections.find((s) => s.path.endsWith('/limits'))?.content ?? '';
    if (limits === '') throw new TriageError('command_failed', `cannot read /proc/${pid}/limits: ${tail.stderr.trim().split('\n')[0] ?? 'no output'}`);
    const size = stat.exitCode === 0 ? Number(stat.stdout.trim()) : NaN;
    return {
      statSize: Number.isFinite(size) ? size : null,
      listing,
      limits,
      fileNr: sections.find((s) => s.path.endsWith('file-nr'))?.content ?? '',
    };
  },
  analyze(samples) {
    const last = samples[samples.length - 1];
    if (!last) return { facts: {}, findings: [] };
    const count = (raw: Raw) => {
      const listed = parseFdListing(raw.listing).count;
      // Kernels >= 6.2 report the number of open descriptors as the size of /proc/PID/fd.
      return raw.statSize !== null && raw.statSize > 0 ? { open: raw.statSize, method: 'stat' as const } : { open: listed, method: 'listing' as const };
    };
    const listing = parseFdListing(last.raw.listing);
    const { open, method } = count(last.raw);
    const limit = nofileLimit(last.raw.limits);
    const fileNr = parseFileNr(last.raw.fileNr);
    const soft = limit?.soft ?? null;
    const fds: FdFacts = {
      open,
      countMethod: method,
      softLimit: soft,
      hardLimit: limit?.hard ?? null,
      usedRatio: soft ? open / soft : null,
      byKind: listing.byKind,
      topFiles: listing.topFiles,
      fileGroups: listing.fileGroups,
      host: fileNr ? { allocated: fileNr.allocated, max: fileNr.max } : null,
    };
    const first = samples[0];
    if (first && samples.length > 1 && last.at > first.at) {
      const secs = (last.at - first.at) / 1000;
      fds.growthPerSec = round((open - count(first.raw).open) / secs);
      const before = parseFdListing(first.raw.listing).byKind;
      const nonSocket = (k: typeof before) => k.file + k.pipe + k.anon_inode + k.other;
      fds.socketGrowthPerSec = round((listing.byKind.socket - before.socket) / secs);
      fds.nonSocketGrowthPerSec = round((nonSocket(listing.byKind) - nonSocket(before)) / secs);
    }
    const findings: Finding[] = [];
    const kinds = Object.entries(listing.byKind)
      .filter(([, n]) => n > 0)
      .map(([k, n]) => `${n} ${k}`)
      .join(', ');
    if (fds.usedRatio !== null) {
      const pct = Math.round(fds.usedRatio * 100);
      const severity = fds.usedRatio >= FD_CRITICAL_RATIO ? 'critical' : fds.usedRatio >= FD_WARN_RATIO ? 'warning' : 'info';
      findings.push({
        id: severity === 'info' ? 'fds-ok' : 'fds-near-limit',
        step: 'fds',
        severity,
        title: `${open}/${soft} descriptors open (${pct}%)`,
        detail:
          `${kinds || 'none listed'}` +
          (fds.growthPerSec !== undefined
            ? `; ${signed(fds.growthPerSec)}/s between samples (sockets ${signed(fds.socketGrowthPerSec ?? 0)}/s, other ${signed(fds.nonSocketGrowthPerSec ?? 0)}/s)`
            : '') +
          (severity === 'critical' ? '; accept() fails with EMFILE at the limit' : ''),
        evidence: listing.fileGroups.slice(0, 5).map((g) => `${g.count}× ${g.pattern}${g.distinct > 1 ? ` (${g.distinct} files)` : ''}`),
      });
    } else {
      findings.push({ id: 'fds-unlimited', step: 'fds', severity: 'info', title: `${open} descriptors open, no soft limit`, detail: kinds });
    }
    if (fds.host && fds.host.max > 0 && fds.host.allocated / fds.host.max >= FD_WARN_RATIO) {
      findings.push({
        id: 'host-fds-near-max',
        step: 'fds',
        severity: fds.host.allocated / fds.host.max >= FD_CRITICAL_RATIO ? 'critical' : 'warning',
        title: `host file table ${fds.host.allocated}/${fds.host.max}`,
        detail: 'the whole host is running out of file handles (fs.file-max)',
      });
    }
    return { facts: { fds }, findings };
  },
});

function signed(n: number): string {
  return `${n >= 0 ? '+' : ''}${n}`;
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
