import { z } from 'zod';
import type { Facts, SymptomKind } from '../core/facts.js';
import { assessPool, poolMaxText, type PoolState } from '../steps/parse/pool.js';
import type { EdgeCheck, HypothesisRule, Verdict } from '../engine/diagnosis.js';
import type { HypothesisId } from '../engine/report.js';
import { describeSymptom } from '../steps/probe-http.js';

/** Thresholds of the connreset rules; each can be overridden in config (`diagnosis.thresholds`). */
export const ThresholdsSchema = z
  .object({
    fdExhaustedRatio: z.number().min(0).max(2).default(0.95).describe('open/soft limit at which descriptors count as exhausted'),
    fdHighRatio: z.number().min(0).max(2).default(0.8).describe('open/soft limit worth a leak check'),
    closeWaitPileup: z.number().int().min(1).default(10).describe('CLOSE_WAIT sockets held by the process that count as a pile-up'),
    closeWaitShareOfFds: z.number().min(0).max(1).default(0.25).describe('share of open descriptors in CLOSE_WAIT that makes them the reason descriptors ran out'),
    leakShareOfFds: z.number().min(0).max(1).default(0.5).describe('share of open descriptors that are files, pipes or anon inodes for a leak'),
    fdGrowthPerSec: z.number().min(0).default(0.5).describe('descriptor growth between samples that counts as climbing'),
    hostFdRatio: z.number().min(0).max(1).default(0.9).describe('host file-nr/file-max for host-wide exhaustion'),
    conntrackRatio: z.number().min(0).max(1).default(0.9).describe('conntrack count/max for a full table'),
    slowRequestMs: z.number().positive().default(1000).describe('access-log p50 above which requests count as stalled'),
  })
  .strict();
export type Thresholds = z.infer<typeof ThresholdsSchema>;
export const DEFAULT_THRESHOLDS: Thresholds = ThresholdsSchema.parse({});

type Rule = HypothesisRule<Thresholds>;

const pct = (x: number) => `${Math.round(x * 100)}%`;
const ms = (x: number | null) => (x === null ? 'unknown' : String(Math.round(x)));
const secs = (ms: number | undefined) => (ms !== undefined ? `${(ms / 1000).toFixed(1)} s` : 'the interval');

/** The pool as measured, by its own semantics (`assessPool`); a driver failing to dial leaves it no room. */
export function poolState(f: Facts): PoolState | null {
  const s = f.pool?.stats;
  return s ? assessPool(s, (f.logs?.signatures.dbConnectEmfile ?? 0) > 0) : null;
}

function poolText(f: Facts): string | null {
  const s = f.pool?.stats;
  if (!s) return null;
  const max = poolMaxText(s);
  const parts = [s.inUse !== null ? `pool in use ${s.inUse}${max}` : `pool in use not reported${s.maxOpen !== null ? `, maximum ${s.maxOpen}` : ''}`];
  if (s.waiting !== null) parts.push(`${s.waiting} requests waiting`);
  if (s.waitCountDelta !== undefined) parts.push(`WaitCount +${s.waitCountDelta} in ${secs(s.intervalMs)}`);
  return parts.join(', ');
}

function fdText(f: Facts): string | null {
  const d = f.fds;
  if (!d) return null;
  const cw = f.tcp?.closeWait;
  const owned = cw?.ownedByPid ?? null;
  return `${d.open}/${d.softLimit ?? 'unlimited'} fds open` + (owned !== null && owned > 0 && f.tcp ? `, ${owned} of them sockets in CLOSE_WAIT on :${f.tcp.port}` : '');
}

function symptomText(f: Facts): string | null {
  return f.probe ? describeSymptom(f.probe.symptom) : null;
}

function joinFacts(...parts: (string | null)[]): string {
  return parts.filter((p): p is string => p !== null && p !== '').join('; ');
}

/** CLOSE_WAIT sockets the process holds (or, without a PID, all on the port). */
function closeWaitHeld(f: Facts): number | null {
  const cw = f.tcp?.closeWait;
  if (!cw) return null;
  return cw.ownedByPid ?? cw.total;
}

/** `N sockets in CLOSE_WAIT held by the process` when ownership was measured, else `... on :port` and that it was not. */
function closeWaitText(f: Facts): string {
  const cw = f.tcp?.closeWait;
  if (!cw || !f.tcp) return 'CLOSE_WAIT not measured';
  return cw.ownedByPid !== null
    ? `${cw.ownedByPid} sockets in CLOSE_WAIT held by the process on :${f.tcp.port}`
    : `${cw.total} sockets in CLOSE_WAIT on :${f.tcp.port} (which process holds them was not measured)`;
}

/** A descriptor group that looks leaked: many files of one pattern, or one file opened many times. */
export function leakGroup(f: Facts): { pattern: string; count: number; distinct: number } | null {
  const groups = f.fds?.fileGroups ?? f.fds?.topFiles.map((t) => ({ pattern: t.path, count: t.count, distinct: 1 })) ?? [];
  return groups.find((g) => g.distinct >= 3 || g.count >= 10) ?? null;
}

function groupText(g: { pattern: string; count: number; distinct: number }): string {
  return `${g.count}× ${g.pattern}${g.distinct > 1 ? ` (${g.distinct} files)` : ''}`;
}

/** The probe saw `to`, or why that is not known. */
function probeSaw(f: Facts, to: string): { seen: number; why: string } {
  if (!f.probe) return { seen: 0, why: 'the service was not probed' };
  const seen = f.probe.counts[to as SymptomKind] ?? 0;
  return { seen, why: seen > 0 ? '' : `no probe saw ${to} (${f.probe.counts[f.probe.symptom] ?? 0}/${f.probe.attempts.length} probes: ${f.probe.symptom})` };
}

const poolSaturated = (f: Facts) => {
  const st = poolState(f);
  const s = f.pool?.stats;
  if (!st || !s) return null;
  return { ...st, s };
};

/** Onset times from the monitoring history, in ms since epoch. */
function onsetMs(f: Facts, signal: string): number | null {
  const at = f.history?.onsets.find((o) => o.signal === signal)?.at;
  return at ? Date.parse(at) : null;
}

/** What the order of onset says about the pool as the root: evidence for, against, or nothing. */
function poolOnsetOrder(f: Facts): { supports: string | null; refutes: string | null } {
  const pool = onsetMs(f, 'pool-saturated') ?? onsetMs(f, 'pool-waits');
  const fds = onsetMs(f, 'fds-climbing');
  const poolSeries = f.history?.onsets.some((o) => o.signal === 'pool-saturated');
  if (pool !== null && (fds === null || pool <= fds)) {
    return { supports: `monitoring: the pool saturated at ${new Date(pool).toISOString()}${fds !== null ? `, ${Math.round((fds - pool) / 1000)} s before descriptors climbed` : ', descriptors still below the limit'}`, refutes: null };
  }
  if (fds !== null && poolSeries && (pool === null || pool > fds)) {
    return { supports: null, refutes: `monitoring: descriptors climbed at ${new Date(fds).toISOString()} while the pool had room${pool !== null ? ` (it saturated ${Math.round((pool - fds) / 1000)} s later)` : ''}` };
  }
  return { supports: null, refutes: null };
}

const dbPool: Rule = {
  id: 'db-pool-saturation',
  reads: ['db-stats'],
  // A pool with an acquisition time-out (HikariCP, node-postgres) fails requests instead of blocking.
  causes: ['handler-blocked', 'http-error'],
  evaluate(f) {
    const p = poolSaturated(f);
    const order = poolOnsetOrder(f);
    if (order.refutes) return { status: 'refuted', evidence: [order.refutes, ...(p ? [poolText(f) ?? ''] : [])] };
    if (!p && order.supports) return { status: 'supported', evidence: [order.supports] };
    if (!p) return { status: 'unknown', evidence: [], missing: [`DB pool statistics (${f.pool?.tried.map((t) => `${t.source}: ${t.result}`).join('; ') || 'db-stats did not run'})`] };
    const text = poolText(f) ?? '';
    const source = `(${p.s.format}, from ${p.s.source})`;
    if (p.full && p.queued) {
      const hist = f.pool?.history?.saturatedSince ? [`at its max since ${f.pool.history.saturatedSince} (Prometheus)`] : [];
      const why = p.s.maxOpen === null && p.s.waiting !== null && p.s.waiting > 0 ? [`${p.s.waiting} requests waiting: a ${p.s.format} pool queues a request only when every connection is in use`] : [];
      return { status: 'supported', evidence: [`${text} ${source}`, ...why, ...hist, ...(order.supports ? [order.supports] : [])] };
    }
    if (p.full && p.queuedMeasured) return { status: 'unknown', evidence: [`${text}, but no request waited between samples`] };
    if (p.full) return { status: 'unknown', evidence: [`${text}: every connection in use`], missing: ['requests waiting for a connection'] };
    if (p.room) return { status: 'refuted', evidence: [`${text}: the pool has room`] };
    return { status: 'unknown', evidence: [`${text} ${source}`], missing: p.unmeasured.map((m) => `${m} of the DB pool`) };
  },
  edge(to, f, t) {
    const order = poolOnsetOrder(f).supports;
    const latencyAt = onsetMs(f, 'latency-up');
    const poolAt = onsetMs(f, 'pool-saturated') ?? onsetMs(f, 'pool-waits');
    if (to === 'handler-blocked' && order && latencyAt !== null && poolAt !== null && poolAt <= latencyAt) {
      return { verified: true, evidence: `${order}; request time rose at ${new Date(latencyAt).toISOString()}` };
    }
    const s = f.pool?.stats;
    const waits = s?.waitCountDelta !== undefined && s.waitCountDelta > 0 ? `WaitCount +${s.waitCountDelta}` : s?.waiting ? `${s.waiting} requests waiting` : null;
    const lat = f.logs?.latency;
    const timeouts = f.logs?.signatures.poolTimeout ?? 0;
    if (to === 'http-error') {
      const errors = f.probe?.counts['http-error'] ?? 0;
      return errors > 0 && timeouts > 0
        ? { verified: true, evidence: `${errors} probes got HTTP 5xx and the logs show ${timeouts} pool time-outs` }
        : { verified: false, evidence: 'no pool time-out in the logs to tie the errors to the pool' };
    }
    if (to !== 'handler-blocked') return { verified: false, evidence: 'no measured fact links them' };
    if (!waits) return { verified: false, evidence: 'no request was measured waiting for a connection' };
    if (lat && lat.lateP50Ms !== null && lat.lateP50Ms >= t.slowRequestMs) {
      return { verified: true, evidence: `requests queue for a connection (${waits}) while request time grows to ${ms(lat.lateP50Ms)} ms` };
    }
    const owned = f.tcp?.closeWait.ownedByPid ?? null;
    if (owned !== null && owned >= t.closeWaitPileup) {
      return { verified: true, evidence: `requests queue for a connection (${waits}) while the process holds ${owned} CLOSE_WAIT sockets` };
    }
    const rt = f.probe?.counts['read-timeout'] ?? 0;
    if (rt > 0) return { verified: true, evidence: `requests queue for a connection (${waits}) and ${rt} probes connected but got no answer` };
    return { verified: false, evidence: `requests queue for a connection (${waits}), but no request time, held socket or probe measurement shows handlers blocked` };
  },
  summary(f, t) {
    const p = poolSaturated(f);
    const sentences = [`${joinFacts(`The DB connection pool is saturated: ${poolText(f) ?? 'statistics from the monitoring history'}`, fdText(f), symptomText(f))}.`];
    if (p?.queued) sentences.push('Requests wait for a free connection.');
    const held = closeWaitHeld(f) ?? 0;
    if (held >= t.closeWaitPileup) sentences.push(`Clients gave up and hung up while their handlers still waited: ${closeWaitText(f)}.`);
    const d = f.fds;
    if (d?.usedRatio != null && d.usedRatio >= t.fdExhaustedRatio) sentences.push(`The process is at its descriptor limit (${d.open}/${d.softLimit}), so new connections fail.`);
    const emfile = f.logs?.signatures.dbConnectEmfile ?? 0;
    if (emfile > 0) sentences.push(`The driver cannot open new database connections (${emfile} "too many open files" errors), so the pool cannot recover by itself.`);
    return sentences.join(' ');
  },
};

const handlerBlocked: Rule = {
  id: 'handler-blocked',
  incomplete: 'what blocks the handlers is not measured: the answer stops at the blocked handlers',
  reads: ['tcp-states', 'logs', 'probe-http'],
  causes: ['close-wait-pileup', 'read-timeout'],
  evaluate(f, t) {
    const ev: string[] = [];
    const held = closeWaitHeld(f);
    if (held !== null && held >= t.closeWaitPileup) ev.push(`${closeWaitText(f)}: clients hung up, handlers did not finish`);
    const lat = f.logs?.latency;
    // Requests that became slow, not a rise from 14 to 69 ms on a busy machine.
    if (lat && lat.lateP50Ms !== null && lat.lateP50Ms >= t.slowRequestMs) ev.push(`access-log p50 ${ms(lat.earlyP50Ms)} → ${ms(lat.lateP50Ms)} ms`);
    const rt = f.probe?.counts['read-timeout'] ?? 0;
    if (rt > 0) ev.push(`${rt} probes connected but got no answer`);
    const waiting = f.pool?.stats?.waiting ?? 0;
    if (waiting > 0) ev.push(`${waiting} requests waiting for a DB connection`);
    if (ev.length > 0) return { status: 'supported', evidence: ev };
    const missing = [...(f.tcp ? [] : ['CLOSE_WAIT on the port (tcp-states)']), ...(f.logs ? [] : ['request durations (logs)'])];
    if (missing.length) return { status: 'unknown', evidence: [], missing };
    return { status: 'refuted', evidence: [`${held ?? 0} CLOSE_WAIT sockets, requests ${lat?.lateP50Ms ?? 'not timed'}${lat?.lateP50Ms != null ? ' ms' : ''}`] };
  },
  edge(to, f, t) {
    const cw = f.tcp?.closeWait;
    if (to === 'close-wait-pileup') {
      if (cw?.ownedByPid != null && cw.ownedByPid >= t.closeWaitPileup) return { verified: true, evidence: `${cw.ownedByPid} sockets in CLOSE_WAIT are still owned by the process's handlers` };
      if (cw && cw.ownedByPid === null) return { verified: false, evidence: `${closeWaitText(f)}: that handlers hold them is not measured` };
      return { verified: false, evidence: 'not measured' };
    }
    if (to === 'read-timeout') {
      const rt = f.probe?.counts['read-timeout'] ?? 0;
      return rt > 0 ? { verified: true, evidence: `${rt} probes connected and waited without an answer` } : { verified: false, evidence: probeSaw(f, to).why };
    }
    return { verified: false, evidence: 'not measured' };
  },
  summary(f) {
    const p = poolState(f);
    let why: string;
    if (p?.room) why = `The DB pool is not the cause (${poolText(f)}: it has room). Look at what the handlers wait on: downstream calls and their time-outs, locks, a thread or goroutine dump.`;
    else if (p) why = `What blocks them is not measured: the DB pool is only partly measured (${poolText(f)}; not measured: ${p.unmeasured.join(', ') || 'whether requests wait'}). Check the pool's in-use against its maximum and its waiters, downstream latency, and a thread or goroutine dump.`;
    else why = `What blocks them is not measured: no pool statistics were found (${f.pool?.tried.map((x) => x.source).join(', ') || 'db-stats did not run'}). Check the DB pool (in use vs max, waiters), downstream latency, and a thread or goroutine dump.`;
    const silent = f.pool?.silentEndpoints ?? [];
    if (silent.length) why += ` ${silent.join(', ')} did not answer in time: an endpoint served by the same blocked workers goes silent during the incident, so read the pool from its logs or a Prometheus server's history.`;
    return `${joinFacts('Request handlers are blocked', fdText(f), symptomText(f))}. ${why}`;
  },
};

const closeWait: Rule = {
  id: 'close-wait-pileup',
  reads: ['tcp-states'],
  causes: ['fd-exhaustion'],
  evaluate(f, t) {
    const tcp = f.tcp;
    if (!tcp) return { status: 'unknown', evidence: [], missing: ['TCP states on the port (tcp-states)'] };
    const held = closeWaitHeld(f) ?? 0;
    const growth = tcp.closeWaitGrowthPerSec !== undefined ? `, ${tcp.closeWaitGrowthPerSec >= 0 ? '+' : ''}${tcp.closeWaitGrowthPerSec}/s` : '';
    if (held >= t.closeWaitPileup) return { status: 'supported', evidence: [`${closeWaitText(f)}${growth}`] };
    return { status: 'refuted', evidence: [`only ${tcp.closeWait.total} sockets in CLOSE_WAIT on :${tcp.port}`] };
  },
  edge(to, f, t) {
    const owned = f.tcp?.closeWait.ownedByPid ?? null;
    const open = f.fds?.open ?? 0;
    if (to !== 'fd-exhaustion') return { verified: false, evidence: 'no measured fact links them' };
    if (!open) return { verified: false, evidence: 'descriptors not measured' };
    if (owned === null) return { verified: false, evidence: 'which process holds the CLOSE_WAIT sockets was not measured' };
    if (owned / open >= t.closeWaitShareOfFds) return { verified: true, evidence: `${owned} of ${open} open descriptors (${pct(owned / open)}) are CLOSE_WAIT sockets` };
    return { verified: false, evidence: `CLOSE_WAIT is ${pct(owned / open)} of the open descriptors` };
  },
  summary(f) {
    return `${joinFacts('Sockets pile up in CLOSE_WAIT', closeWaitText(f), fdText(f), symptomText(f))}. The peers hung up but the application has not closed its side.`;
  },
};

const fdExhaustion: Rule = {
  id: 'fd-exhaustion',
  reads: ['fds'],
  causes: ['reset', 'read-timeout', 'connect-timeout', 'empty-reply', 'http-error'],
  feedback: ['db-pool-saturation'],
  evaluate(f, t) {
    const d = f.fds;
    const emfile = f.logs?.signatures.emfile ?? 0;
    if (!d) return emfile > 0 ? { status: 'supported', evidence: [`${emfile} "too many open files" log lines`] } : { status: 'unknown', evidence: [], missing: ['descriptors (fds)'] };
    if (d.usedRatio === null) return { status: 'refuted', evidence: [`${d.open} fds open, no soft limit`] };
    if (d.usedRatio >= t.fdExhaustedRatio || emfile > 0) {
      return { status: 'supported', evidence: [`${d.open}/${d.softLimit} fds open (${pct(d.usedRatio)})`, ...(emfile ? [`${emfile} "too many open files" log lines`] : [])] };
    }
    return { status: 'refuted', evidence: [`${d.open}/${d.softLimit} fds open (${pct(d.usedRatio)} of the limit)`] };
  },
  edge(to, f) {
    const d = f.fds;
    const emfile = f.logs?.signatures.emfile ?? 0;
    if (to === 'db-pool-saturation') {
      const db = f.logs?.signatures.dbConnectEmfile ?? 0;
      return db > 0
        ? { verified: true, evidence: `at the descriptor limit the driver cannot open connections (${db} "too many open files" errors on connect): the pool cannot replace or add connections, which keeps it saturated` }
        : { verified: false, evidence: 'no failed DB connection attempt in the logs' };
    }
    const { seen, why } = probeSaw(f, to);
    if (seen === 0) return { verified: false, evidence: why };
    const fdsText = d ? `${d.open}/${d.softLimit} fds open` : `descriptors not measured, ${emfile} "too many open files" log lines`;
    if (to === 'http-error') {
      return emfile > 0
        ? { verified: true, evidence: `${seen} probes got HTTP 5xx with ${fdsText} and ${emfile} "too many open files" log lines` }
        : { verified: false, evidence: `${seen} probes got HTTP 5xx, but no "too many open files" in the logs ties the errors to descriptors` };
    }
    const how: Partial<Record<string, string>> = {
      reset: 'accept() fails with EMFILE; the runtime closes pending connections with unread requests: RST',
      'read-timeout': 'connections wait in the accept queue while accept() fails',
      'connect-timeout': 'the accept queue fills while accept() fails and SYNs are dropped',
      'empty-reply': 'pending connections are closed before the request is read',
    };
    return d ? { verified: true, evidence: `${seen} probes saw ${to} with ${fdsText}: ${how[to] ?? ''}` } : { verified: false, evidence: `${seen} probes saw ${to}, but the descriptors were not measured` };
  },
  summary(f) {
    return `${joinFacts('The process has run out of file descriptors', fdText(f), symptomText(f))}. accept() fails, so new connections are dropped.`;
  },
};

const fdLeak: Rule = {
  id: 'fd-leak',
  reads: ['fds', 'tcp-states'],
  causes: ['fd-exhaustion'],
  evaluate(f, t) {
    const d = f.fds;
    if (!d) return { status: 'unknown', evidence: [], missing: ['descriptors (fds)'] };
    const nonSocket = d.byKind.file + d.byKind.pipe + d.byKind.anon_inode + d.byKind.other;
    const share = d.open > 0 ? nonSocket / d.open : 0;
    const group = leakGroup(f);
    const high = (d.usedRatio ?? 0) >= t.fdHighRatio;
    // Growth that connections explain is load; a leak is growth of the descriptors that are not sockets.
    const climbing = (d.nonSocketGrowthPerSec ?? 0) >= t.fdGrowthPerSec;
    const growth = d.growthPerSec !== undefined ? `${d.growthPerSec >= 0 ? '+' : ''}${d.growthPerSec}/s (sockets ${d.socketGrowthPerSec ?? '?'}/s, other ${d.nonSocketGrowthPerSec ?? '?'}/s)` : null;
    if ((high || climbing) && share >= t.leakShareOfFds) {
      return {
        status: 'supported',
        evidence: [
          `${nonSocket} of ${d.open} open descriptors are files, pipes or anon inodes (${pct(share)})`,
          ...(group ? [groupText(group)] : []),
          ...(climbing && growth ? [`descriptors ${growth} between samples`] : []),
        ],
      };
    }
    if ((d.growthPerSec ?? 0) >= t.fdGrowthPerSec && !climbing && growth) return { status: 'refuted', evidence: [`descriptors ${growth}: the growth is connections (load), not leaked files`] };
    if (!high && !climbing) return { status: 'refuted', evidence: [`${d.open}/${d.softLimit ?? 'unlimited'} fds open, files not climbing`] };
    return { status: 'refuted', evidence: [`sockets hold ${pct(1 - share)} of the open descriptors, not files`] };
  },
  edge(to, f, t) {
    const d = f.fds;
    if (to === 'fd-exhaustion' && d && (d.usedRatio ?? 0) >= t.fdExhaustedRatio) return { verified: true, evidence: `leaked descriptors fill the limit: ${d.open}/${d.softLimit}` };
    return { verified: false, evidence: 'not at the limit yet' };
  },
  summary(f) {
    const g = leakGroup(f);
    return `${joinFacts('The process leaks file descriptors', fdText(f), g ? groupText(g) : null, symptomText(f))}. Find where they are opened and not closed (the path above, lsof, a heap or handle dump).`;
  },
};

/** This listener's own accept queue: full in at least one of two or more samples. */
function ownQueueFull(f: Facts): { full: boolean; text: string } | null {
  const ls = f.tcp?.listenerSamples;
  const l = f.tcp?.listener;
  if (!ls || !l || !f.tcp) return null;
  const text = `accept queue of :${f.tcp.port} at its backlog (${l.backlog}) in ${ls.full} of ${ls.samples} samples, longest ${ls.maxQueue}`;
  return { full: ls.samples >= 2 && ls.full >= 1, text };
}

const backlog: Rule = {
  id: 'listen-backlog-overflow',
  reads: ['tcp-states', 'kernel-counters'],
  // RUNBOOK.md's probe table: a full queue drops SYNs (connect time-out); a connection that got in
  // waits there (read time-out); with tcp_abort_on_overflow=1 it is reset.
  causes: ['connect-timeout', 'read-timeout', 'reset'],
  evaluate(f) {
    const own = ownQueueFull(f);
    const overflows = f.kernel?.delta?.listenOverflows;
    const host = overflows !== undefined ? `host-wide ListenOverflows +${overflows} over ${secs(f.kernel?.intervalMs)}` : null;
    if (own?.full) return { status: 'supported', evidence: [own.text, ...(host ? [host] : [])] };
    if (own && f.tcp?.listenerSamples && f.tcp.listenerSamples.samples < 2 && f.tcp.listenerSamples.full > 0) {
      return { status: 'unknown', evidence: [own.text], missing: ['the accept queue in a second sample'] };
    }
    if (own) return { status: 'refuted', evidence: [`${own.text}${host && (overflows ?? 0) > 0 ? `; the ${host} come from another listener on the host` : host ? `; ${host}` : ''}`] };
    if ((overflows ?? 0) > 0) return { status: 'unknown', evidence: [`${host}: the host's counter, not this port's`], missing: ["this listener's accept queue (tcp-states)"] };
    if (overflows === undefined) return { status: 'unknown', evidence: [], missing: ["this listener's accept queue and the host-wide ListenOverflows (tcp-states, kernel-counters)"] };
    return { status: 'refuted', evidence: [`host-wide ListenOverflows unchanged over ${secs(f.kernel?.intervalMs)}`] };
  },
  edge(to, f) {
    const { seen, why } = probeSaw(f, to);
    if (seen > 0 && (to === 'connect-timeout' || to === 'reset' || to === 'read-timeout')) {
      const how = { 'connect-timeout': ' (SYNs dropped)', reset: ' (tcp_abort_on_overflow=1)', 'read-timeout': ' (stuck in the accept queue)' }[to];
      return { verified: true, evidence: `${seen} probes saw ${to} while the accept queue of :${f.tcp?.port} was full${how}` };
    }
    return { verified: false, evidence: why || 'no measured fact links them' };
  },
  summary(f) {
    const own = ownQueueFull(f);
    const o = f.kernel?.delta?.listenOverflows;
    return `${joinFacts('The listen backlog overflows', own?.text ?? null, o !== undefined ? `host-wide ListenOverflows +${o} in ${secs(f.kernel?.intervalMs)}` : null, symptomText(f))}. The process accepts connections more slowly than they arrive, and the kernel drops SYNs.`;
  },
};

const processDown: Rule = {
  id: 'process-down',
  reads: ['process', 'tcp-states', 'probe-http'],
  causes: ['refused'],
  evaluate(f) {
    if (f.process) return { status: 'refuted', evidence: [`PID ${f.process.pid} listens on the port`] };
    const listener = f.tcp?.listener;
    const refused = f.probe?.counts.refused ?? 0;
    if (f.tcp && !listener) return { status: 'supported', evidence: ['no socket in LISTEN on the port', ...(refused ? [`${refused} probes refused`] : [])] };
    if (refused > 0 && !f.tcp) return { status: 'supported', evidence: [`${refused} probes refused`] };
    return { status: 'unknown', evidence: [], missing: ['the listening process (process, tcp-states)'] };
  },
  edge(to, f) {
    const refused = f.probe?.counts.refused ?? 0;
    return to === 'refused' && refused > 0 ? { verified: true, evidence: `${refused} probes were refused: nothing listens` } : { verified: false, evidence: probeSaw(f, 'refused').why };
  },
  summary(f) {
    return `${joinFacts('Nothing listens on the port: the process is down or listens elsewhere', symptomText(f))}. Check the service manager's status and the last lines of its logs for why it exited.`;
  },
};

const hostFds: Rule = {
  id: 'host-fd-exhaustion',
  reads: ['fds', 'logs'],
  causes: ['reset', 'read-timeout', 'connect-timeout'],
  evaluate(f, t) {
    const h = f.fds?.host;
    if (!h) return { status: 'unknown', evidence: [], missing: ['host file table (/proc/sys/fs/file-nr)'] };
    const r = h.allocated / h.max;
    if (r < t.hostFdRatio) return { status: 'refuted', evidence: [`host file table at ${r < 0.01 ? '<1%' : pct(r)} of file-max`] };
    // The host's table is shared: only this service's own ENFILE errors tie it to this service.
    const enfile = f.logs?.signatures.enfile ?? 0;
    if (enfile > 0) return { status: 'supported', evidence: [`host file table ${h.allocated}/${h.max} (${pct(r)})`, `${enfile} "too many open files in system" lines in this service's logs`] };
    return { status: 'unknown', evidence: [`host-wide: file table ${h.allocated}/${h.max} (${pct(r)})`], missing: ['an ENFILE error of this service ("too many open files in system")'] };
  },
  edge(to, f): EdgeCheck {
    const { seen, why } = probeSaw(f, to);
    return seen > 0 ? { verified: true, evidence: `${seen} probes saw ${to} while the host's file table was full and the service logged ENFILE` } : { verified: false, evidence: why };
  },
  summary(f) {
    const h = f.fds?.host;
    return `${joinFacts('The host has run out of file handles', h ? `file-nr ${h.allocated}/${h.max}` : null, symptomText(f))}. Every process on it fails to open files and accept connections; find the process holding them.`;
  },
};

const conntrack: Rule = {
  id: 'conntrack-full',
  reads: ['kernel-counters'],
  causes: ['connect-timeout'],
  evaluate(f, t) {
    if (!f.kernel) return { status: 'unknown', evidence: [], missing: ['conntrack (kernel-counters)'] };
    const c = f.kernel.conntrack;
    if (!c) return { status: 'refuted', evidence: ['conntrack is not loaded on the host'] };
    const r = c.count / c.max;
    if (r < t.conntrackRatio) return { status: 'refuted', evidence: [`conntrack at ${r < 0.01 ? '<1%' : pct(r)} of max`] };
    // A full table is the host's; this service's own sign is its probes timing out on connect.
    const timedOut = f.probe?.counts['connect-timeout'] ?? 0;
    if (timedOut > 0) return { status: 'supported', evidence: [`conntrack ${c.count}/${c.max} (${pct(r)})`, `${timedOut} probes of this service timed out connecting`] };
    return { status: 'unknown', evidence: [`host-wide: conntrack ${c.count}/${c.max} (${pct(r)})`], missing: ['a connect time-out of this service'] };
  },
  edge(to, f) {
    const { seen, why } = probeSaw(f, to);
    return seen > 0 ? { verified: true, evidence: `${seen} probes timed out connecting while the conntrack table was full` } : { verified: false, evidence: why };
  },
  summary(f) {
    const c = f.kernel?.conntrack;
    return `${joinFacts('The connection-tracking table is full', c ? `conntrack ${c.count}/${c.max}` : null, symptomText(f))}. New connections are dropped before they reach the service.`;
  },
};

const noFault: Rule = {
  id: 'no-fault-found',
  reads: ['probe-http'],
  causes: [],
  evaluate(f) {
    const p = f.probe;
    if (!p) return { status: 'unknown', evidence: [], missing: ['a probe of the service (probe-http)'] };
    const n = p.attempts.length;
    return p.symptom === 'ok' ? { status: 'supported', evidence: [`${p.counts.ok ?? 0}/${n} probes answered`] } : { status: 'refuted', evidence: [`${p.counts[p.symptom] ?? 0}/${n} probes: ${p.symptom}`] };
  },
  summary(f) {
    const p = f.probe;
    const times = p?.attempts.map((a) => a.totalMs).sort((a, b) => a - b);
    const median = times?.length ? times[Math.floor(times.length / 2)] : undefined;
    return `No fault found: ${p ? `${p.counts.ok ?? 0}/${p.attempts.length} probes of ${p.url} answered${median !== undefined ? ` (median ${median} ms)` : ''}` : 'not probed'}${f.fds ? `; ${f.fds.open}/${f.fds.softLimit ?? 'unlimited'} fds open` : ''}${f.tcp ? `; ${f.tcp.closeWait.total} sockets in CLOSE_WAIT` : ''}. If clients still see resets, probe from their network and check what sits between them and the service.`;
  },
};

/** In priority order: earlier rules win ties for the root cause. */
export const CONNRESET_RULES: readonly Rule[] = [dbPool, fdLeak, backlog, processDown, hostFds, conntrack, handlerBlocked, closeWait, fdExhaustion, noFault];

export type { HypothesisId, Verdict };
