import { z } from 'zod';
import type { Facts, SymptomKind } from '../core/facts.js';
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
const secs = (ms: number | undefined) => (ms !== undefined ? `${(ms / 1000).toFixed(1)} s` : 'the interval');

function poolText(f: Facts): string | null {
  const s = f.pool?.stats;
  if (!s) return null;
  const parts = [`pool in use ${s.inUse ?? '?'}/${s.maxOpen ?? 'unlimited'}`];
  if (s.waiting !== null) parts.push(`${s.waiting} requests waiting`);
  if (s.waitCountDelta !== undefined) parts.push(`WaitCount +${s.waitCountDelta} in ${secs(s.intervalMs)}`);
  return parts.join(', ');
}

function fdText(f: Facts): string | null {
  const d = f.fds;
  if (!d) return null;
  const cw = f.tcp?.closeWait;
  const held = cw ? (cw.ownedByPid ?? cw.total) : null;
  return `${d.open}/${d.softLimit ?? 'unlimited'} fds open` + (held !== null && f.tcp ? `, ${held} of them sockets in CLOSE_WAIT on :${f.tcp.port}` : '');
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

const poolSaturated = (f: Facts) => {
  const s = f.pool?.stats;
  if (!s || s.maxOpen === null || s.inUse === null) return null;
  const full = s.inUse >= s.maxOpen && (s.idle ?? 0) === 0;
  const queued = (s.waitCountDelta ?? 0) > 0 || (s.waiting ?? 0) > 0;
  return { full, queued, s };
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
    if (p.full && p.queued) {
      const hist = f.pool?.history?.saturatedSince ? [`at its max since ${f.pool.history.saturatedSince} (Prometheus)`] : [];
      return { status: 'supported', evidence: [text, ...hist, ...(order.supports ? [order.supports] : [])] };
    }
    if (p.full) return { status: 'unknown', evidence: [`${text}, but no request waited between samples`] };
    return { status: 'refuted', evidence: [`${text}: the pool has room`] };
  },
  edge(to, f, t) {
    const order = poolOnsetOrder(f).supports;
    const latencyAt = onsetMs(f, 'latency-up');
    const poolAt = onsetMs(f, 'pool-saturated') ?? onsetMs(f, 'pool-waits');
    if (to === 'handler-blocked' && order && latencyAt !== null && poolAt !== null && poolAt <= latencyAt) {
      return { verified: true, evidence: `${order}; request time rose at ${new Date(latencyAt).toISOString()}` };
    }
    const waiting = f.pool?.stats?.waitCountDelta ?? f.pool?.stats?.waiting ?? 0;
    const lat = f.logs?.latency;
    const timeouts = f.logs?.signatures.poolTimeout ?? 0;
    if (to === 'http-error') {
      const errors = f.probe?.counts['http-error'] ?? 0;
      return errors > 0 && timeouts > 0
        ? { verified: true, evidence: `${errors} probes got HTTP 5xx and the logs show ${timeouts} pool time-outs` }
        : { verified: false, evidence: 'no pool time-out in the logs to tie the errors to the pool' };
    }
    if (to === 'handler-blocked' && waiting > 0 && ((lat?.lateP50Ms ?? 0) >= t.slowRequestMs || lat?.trend === 'rising')) {
      return { verified: true, evidence: `requests queue for a connection (${waiting} waits) while request time grows to ${lat?.lateP50Ms} ms` };
    }
    if (to === 'handler-blocked' && waiting > 0 && (closeWaitHeld(f) ?? 0) >= t.closeWaitPileup) {
      return { verified: true, evidence: `requests queue for a connection (${waiting} waits) while the process holds ${closeWaitHeld(f)} CLOSE_WAIT sockets` };
    }
    return { verified: false, evidence: 'no request-time or held-socket measurement shows the waits blocking handlers' };
  },
  summary(f) {
    return joinFacts(
      `The DB connection pool is saturated: ${poolText(f)}`,
      fdText(f),
      symptomText(f),
    ) + '. Handlers wait for a connection, clients time out and hang up, the sockets stay in CLOSE_WAIT until the handler finishes, and descriptors run out.';
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
    if (held !== null && held >= t.closeWaitPileup) ev.push(`${held} CLOSE_WAIT sockets held by the process: clients hung up, handlers did not finish`);
    const lat = f.logs?.latency;
    if (lat && lat.lateP50Ms !== null && lat.lateP50Ms >= t.slowRequestMs) ev.push(`access-log p50 ${lat.earlyP50Ms} → ${lat.lateP50Ms} ms`);
    else if (lat?.trend === 'rising') ev.push(`latency rising: p50 ${lat.earlyP50Ms} → ${lat.lateP50Ms} ms`);
    const rt = f.probe?.counts['read-timeout'] ?? 0;
    if (rt > 0) ev.push(`${rt} probes connected but got no answer`);
    const waiting = f.pool?.stats?.waiting ?? 0;
    if (waiting > 0) ev.push(`${waiting} requests waiting for a DB connection`);
    if (ev.length > 0) return { status: 'supported', evidence: ev };
    const missing = [...(f.tcp ? [] : ['CLOSE_WAIT on the port (tcp-states)']), ...(f.logs ? [] : ['request durations (logs)'])];
    if (missing.length) return { status: 'unknown', evidence: [], missing };
    return { status: 'refuted', evidence: [`${held ?? 0} CLOSE_WAIT sockets held, requests ${lat?.lateP50Ms ?? '?'} ms`] };
  },
  edge(to, f, t) {
    const held = closeWaitHeld(f) ?? 0;
    if (to === 'close-wait-pileup' && held >= t.closeWaitPileup) return { verified: true, evidence: `${held} sockets in CLOSE_WAIT are still owned by the process's handlers` };
    if (to === 'read-timeout' && (f.probe?.counts['read-timeout'] ?? 0) > 0) return { verified: true, evidence: 'probes connected and waited without an answer' };
    return { verified: false, evidence: 'not measured' };
  },
  summary(f) {
    const pool = f.pool?.stats;
    const why = pool
      ? `The DB pool is not the cause (${poolText(f)}). Look at what the handlers wait on: downstream calls and their time-outs, locks, a thread or goroutine dump.`
      : `What blocks them is not measured: no pool statistics were found (${f.pool?.tried.map((x) => x.source).join(', ') || 'db-stats did not run'}). Check the DB pool (in use vs max, waiters), downstream latency, and a thread or goroutine dump.`;
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
    if (held >= t.closeWaitPileup) return { status: 'supported', evidence: [`${held} sockets in CLOSE_WAIT held by the process on :${tcp.port}${growth}`] };
    return { status: 'refuted', evidence: [`only ${tcp.closeWait.total} sockets in CLOSE_WAIT on :${tcp.port}`] };
  },
  edge(to, f, t) {
    const held = closeWaitHeld(f) ?? 0;
    const open = f.fds?.open ?? 0;
    if (to === 'fd-exhaustion' && open > 0 && held / open >= t.closeWaitShareOfFds) {
      return { verified: true, evidence: `${held} of ${open} open descriptors (${pct(held / open)}) are CLOSE_WAIT sockets` };
    }
    return { verified: false, evidence: open ? `CLOSE_WAIT is ${pct(held / open)} of the open descriptors` : 'descriptors not measured' };
  },
  summary(f) {
    return `${joinFacts(`Sockets pile up in CLOSE_WAIT`, fdText(f), symptomText(f))}. The peers hung up but the application never closed its side.`;
  },
};

const fdExhaustion: Rule = {
  id: 'fd-exhaustion',
  reads: ['fds'],
  causes: ['reset', 'read-timeout', 'connect-timeout', 'empty-reply', 'http-error'],
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
    const seen = f.probe?.counts[to as SymptomKind] ?? 0;
    const emfile = f.logs?.signatures.emfile ?? 0;
    if (to === 'http-error') {
      return d && seen > 0 && emfile > 0
        ? { verified: true, evidence: `${seen} probes got HTTP 5xx with ${d.open}/${d.softLimit} fds open and ${emfile} "too many open files" log lines` }
        : { verified: false, evidence: 'no "too many open files" in the logs to tie the errors to descriptors' };
    }
    if (d && seen > 0) {
      const how: Partial<Record<string, string>> = {
        reset: 'accept() fails with EMFILE; the runtime closes pending connections with unread requests: RST',
        'read-timeout': 'connections wait in the accept queue while accept() fails',
        'connect-timeout': 'the accept queue fills while accept() fails and SYNs are dropped',
        'empty-reply': 'pending connections are closed before the request is read',
      };
      return { verified: true, evidence: `${seen} probes saw ${to} with ${d.open}/${d.softLimit} fds open: ${how[to] ?? ''}` };
    }
    return { verified: false, evidence: 'no probe saw it' };
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
    const top = d.topFiles[0];
    const high = (d.usedRatio ?? 0) >= t.fdHighRatio;
    const climbing = (d.growthPerSec ?? 0) >= t.fdGrowthPerSec;
    if ((high || climbing) && share >= t.leakShareOfFds) {
      return {
        status: 'supported',
        evidence: [
          `${nonSocket} of ${d.open} open descriptors are files, pipes or anon inodes (${pct(share)})`,
          ...(top && top.count > 1 ? [`${top.count}× ${top.path}`] : []),
          ...(climbing ? [`+${d.growthPerSec}/s between samples`] : []),
        ],
      };
    }
    if (!high && !climbing) return { status: 'refuted', evidence: [`${d.open}/${d.softLimit ?? 'unlimited'} fds open and not climbing`] };
    return { status: 'refuted', evidence: [`sockets hold ${pct(1 - share)} of the open descriptors, not files`] };
  },
  edge(to, f, t) {
    const d = f.fds;
    if (to === 'fd-exhaustion' && d && (d.usedRatio ?? 0) >= t.fdExhaustedRatio) return { verified: true, evidence: `leaked descriptors fill the limit: ${d.open}/${d.softLimit}` };
    return { verified: false, evidence: 'not at the limit yet' };
  },
  summary(f) {
    const d = f.fds;
    const top = d?.topFiles[0];
    return `${joinFacts('The process leaks file descriptors', fdText(f), top ? `${top.count}× ${top.path}` : null, symptomText(f))}. Find where they are opened and not closed (the path above, lsof, a heap or handle dump).`;
  },
};

const backlog: Rule = {
  id: 'listen-backlog-overflow',
  reads: ['tcp-states', 'kernel-counters'],
  // RUNBOOK.md's probe table: a full queue drops SYNs (connect time-out); a connection that got in
  // waits there (read time-out); with tcp_abort_on_overflow=1 it is reset.
  causes: ['connect-timeout', 'read-timeout', 'reset'],
  evaluate(f) {
    const l = f.tcp?.listener;
    const overflows = f.kernel?.delta?.listenOverflows;
    const full = l ? l.queue >= l.backlog && l.backlog > 0 : null;
    if (full || (overflows ?? 0) > 0) {
      return {
        status: 'supported',
        evidence: [...(l ? [`accept queue ${l.queue}/${l.backlog}`] : []), ...(overflows !== undefined ? [`ListenOverflows +${overflows} over ${secs(f.kernel?.intervalMs)}`] : [])],
      };
    }
    if (full === null && overflows === undefined) return { status: 'unknown', evidence: [], missing: ['listener queue and ListenOverflows (tcp-states, kernel-counters)'] };
    return {
      status: 'refuted',
      evidence: [overflows !== undefined ? `ListenOverflows unchanged over ${secs(f.kernel?.intervalMs)}${l ? `, accept queue ${l.queue}/${l.backlog}` : ''}` : `accept queue ${l?.queue}/${l?.backlog}`],
    };
  },
  edge(to, f) {
    const seen = f.probe?.counts[to as SymptomKind] ?? 0;
    if (seen > 0 && (to === 'connect-timeout' || to === 'reset' || to === 'read-timeout')) {
      const how = { 'connect-timeout': ' (SYNs dropped)', reset: ' (tcp_abort_on_overflow=1)', 'read-timeout': ' (stuck in the accept queue)' }[to];
      return { verified: true, evidence: `${seen} probes saw ${to} while the accept queue overflowed${how}` };
    }
    return { verified: false, evidence: 'no probe saw it' };
  },
  summary(f) {
    const l = f.tcp?.listener;
    const o = f.kernel?.delta?.listenOverflows;
    return `${joinFacts('The listen backlog overflows', l ? `accept queue ${l.queue}/${l.backlog}` : null, o !== undefined ? `ListenOverflows +${o} in ${secs(f.kernel?.intervalMs)}` : null, symptomText(f))}. The process accepts connections more slowly than they arrive, and the kernel drops SYNs.`;
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
    return to === 'refused' && refused > 0 ? { verified: true, evidence: `${refused} probes were refused: nothing listens` } : { verified: false, evidence: 'no probe was refused' };
  },
  summary(f) {
    return `${joinFacts('Nothing listens on the port: the process is down or listens elsewhere', symptomText(f))}. Check the service manager's status and the last lines of its logs for why it exited.`;
  },
};

const hostFds: Rule = {
  id: 'host-fd-exhaustion',
  reads: ['fds'],
  causes: ['reset', 'read-timeout', 'connect-timeout'],
  evaluate(f, t) {
    const h = f.fds?.host;
    if (!h) return { status: 'unknown', evidence: [], missing: ['host file table (/proc/sys/fs/file-nr)'] };
    const r = h.allocated / h.max;
    return r >= t.hostFdRatio
      ? { status: 'supported', evidence: [`host file table ${h.allocated}/${h.max} (${pct(r)})`] }
      : { status: 'refuted', evidence: [`host file table at ${r < 0.01 ? '<1%' : pct(r)} of file-max`] };
  },
  edge(to, f): EdgeCheck {
    const seen = f.probe?.counts[to as SymptomKind] ?? 0;
    return seen > 0 ? { verified: true, evidence: `${seen} probes saw ${to} while the host's file table was full (ENFILE)` } : { verified: false, evidence: 'no probe saw it' };
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
    return r >= t.conntrackRatio
      ? { status: 'supported', evidence: [`conntrack ${c.count}/${c.max} (${pct(r)})`] }
      : { status: 'refuted', evidence: [`conntrack at ${r < 0.01 ? '<1%' : pct(r)} of max`] };
  },
  edge(to, f) {
    const seen = f.probe?.counts[to as SymptomKind] ?? 0;
    return seen > 0 ? { verified: true, evidence: `${seen} probes timed out connecting while the conntrack table was full` } : { verified: false, evidence: 'no probe saw it' };
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
