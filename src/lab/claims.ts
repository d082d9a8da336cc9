/**
 * The claims a connreset report makes, checked against the facts of the same report. `triage eval`
 * and the scenario tests run it on every report they make: a sentence that states a number or a
 * state this run did not measure is a failure, however right the root cause.
 */
import type { Facts } from '../core/facts.js';
import type { Report } from '../engine/report.js';
import { poolState } from '../runbooks/connreset-rules.js';

/** One sentence of the report with where it stands. */
interface Claim {
  where: string;
  text: string;
}

function claimsOf(r: Report): Claim[] {
  const d = r.diagnosis;
  const out: Claim[] = [];
  if (d.rootCause) out.push({ where: 'summary', text: d.rootCause.summary });
  d.links.forEach((l) => out.push({ where: `link ${l.from} → ${l.to}${l.verified ? ' (verified)' : ''}`, text: l.evidence }));
  d.ruledOut.forEach((x) => out.push({ where: `ruled out ${x.id}`, text: x.reason }));
  d.hypotheses.forEach((h) => h.evidence.forEach((e) => out.push({ where: `hypothesis ${h.id}`, text: e })));
  r.findings.forEach((f) => out.push({ where: `finding ${f.id}`, text: `${f.title}: ${f.detail}` }));
  r.recommendations.forEach((x) => out.push({ where: `recommendation ${x.kind}`, text: x.text }));
  return out;
}

/** Every finite number in the facts, and the ways the report derives numbers from them. */
function measuredNumbers(f: Facts, extra: readonly number[]): Set<string> {
  const leaves: number[] = [...extra];
  const walk = (v: unknown, depth: number) => {
    if (depth > 8) return;
    if (typeof v === 'number' && Number.isFinite(v)) leaves.push(v);
    else if (Array.isArray(v)) v.forEach((x) => walk(x, depth + 1));
    else if (v && typeof v === 'object') Object.values(v).forEach((x) => walk(x, depth + 1));
  };
  walk(f, 0);
  const out = new Set<string>();
  const add = (n: number) => {
    if (!Number.isFinite(n)) return;
    out.add(String(n));
    out.add(String(Math.round(n)));
    out.add((Math.round(n * 10) / 10).toFixed(1));
    out.add(String(Math.round(n * 10) / 10));
    out.add(String(Math.abs(n)));
  };
  for (const n of leaves) {
    add(n);
    add(n / 1000);
    add(n / 60);
  }
  // shares (`96 of 127 (76%)`) and differences (`240 s before`)
  const small = [...new Set(leaves)].slice(0, 600);
  for (const a of small) for (const b of small) if (b !== 0) out.add(String(Math.round((a / b) * 100)));
  return out;
}

/** Numbers in a sentence that are not identifiers, paths, addresses or times. */
function numbersIn(text: string): string[] {
  const stripped = text
    .replace(/\b[a-z][a-z0-9+.-]*:\/\/\S+/gi, ' ') // URLs
    .replace(/\d{4}-\d\d-\d\dT[\d:.]+Z?/g, ' ') // ISO times
    .replace(/(^|[\s(])(?:log:)?\/\S*/g, ' ') // paths
    .replace(/\b[\w.-]+:\d+\b/g, ' ') // host:port
    .replace(/:\d+\b/g, ' ') // :port
    .replace(/\b[A-Za-z_]+[-_]?\d[\w-]*/g, ' ') // identifiers with digits (HikariPool-1, go_sql..., C1)
    .replace(/\b\d+(?:\.\d+)?\s*(?:x|×)\s/g, (m) => m) // counts stay
    .replace(/\[REDACTED\]/g, ' ');
  return [...stripped.matchAll(/(?<![\w.])[-+]?\d+(?:\.\d+)?(?![\w.])/g)].map((m) => m[0].replace(/^\+/, ''));
}

/**
 * Problems with the report's claims; empty when every claim is backed by a fact of the report.
 * `thresholds` are numbers the rules may quote (config values), not measurements.
 */
export function checkClaims(r: Report, thresholds: readonly number[] = []): string[] {
  const f = r.facts;
  const problems: string[] = [];
  const probe = f.probe;
  const nums = measuredNumbers(f, [...thresholds, r.sampling.intervalMs, r.sampling.samples, 7, 100, 95, 5, 1, 2, 0]);
  const pool = poolState(f);
  const stats = f.pool?.stats ?? null;
  const cw = f.tcp?.closeWait;
  for (const c of claimsOf(r)) {
    const bad = (why: string) => problems.push(`${c.where}: ${why}: "${c.text.slice(0, 300)}"`);
    const t = c.text;
    // Numbers in what an engineer acts on: the summary, the chain and the recommendations.
    if (c.where === 'summary' || c.where.startsWith('link') || c.where.startsWith('recommendation')) {
      for (const n of numbersIn(t)) if (!nums.has(n) && !nums.has(String(Math.abs(Number(n))))) bad(`the number ${n} is not among the facts measured`);
    }
    if (/has room|is not the cause/i.test(t) && !pool?.room) bad('says the pool has room, but in-use below the maximum with nothing waiting was not measured');
    if (/pool[^.;]*\b(unlimited|no maximum set)\b/i.test(t) && !stats?.unlimited) bad('calls the pool unlimited, but the source did not say so');
    if (/\b(owned by the process|held by the process|held by PID|the process holds)\b/i.test(t) && (cw?.ownedByPid ?? null) === null) bad('says the process holds the sockets, but ownership was not measured');
    for (const m of t.matchAll(/no probe saw ([\w-]+)/g)) {
      const kind = m[1] as keyof NonNullable<typeof probe>['counts'];
      if (!probe) bad('speaks of probes, but the service was not probed');
      else if ((probe.counts[kind] ?? 0) > 0) bad(`says no probe saw ${kind}, but ${probe.counts[kind]} did`);
    }
    for (const m of t.matchAll(/(\d+)\/(\d+) fds open/g)) {
      if (!f.fds || Number(m[1]) !== f.fds.open || Number(m[2]) !== f.fds.softLimit) bad(`${m[0]} does not match the descriptors measured (${f.fds ? `${f.fds.open}/${f.fds.softLimit}` : 'none'})`);
    }
    for (const m of t.matchAll(/pool in use (\d+)(?:\/(\d+))?/g)) {
      if (!stats || Number(m[1]) !== stats.inUse || (m[2] !== undefined && Number(m[2]) !== stats.maxOpen)) bad(`${m[0]} does not match the pool measured`);
    }
    for (const m of t.matchAll(/(\d+) requests waiting/g)) if (!stats || Number(m[1]) !== stats.waiting) bad(`${m[0]} does not match the pool measured`);
    for (const m of t.matchAll(/WaitCount \+(\d+)/g)) {
      const ok = (stats && Number(m[1]) === stats.waitCountDelta) || (f.pool?.history && Number(m[1]) === f.pool.history.waitCountIncrease);
      if (!ok) bad(`${m[0]} does not match the waits measured`);
    }
    for (const m of t.matchAll(/(\d+) (?:sockets )?in CLOSE_WAIT/g)) {
      if (!cw || (Number(m[1]) !== cw.total && Number(m[1]) !== cw.ownedByPid)) bad(`${m[0]} does not match the sockets measured`);
    }
    if (/descriptors run out|at its descriptor limit|out of file descriptors/i.test(t) && c.where === 'summary') {
      const at = (f.fds?.usedRatio ?? 0) >= 0.95 || (f.logs?.signatures.emfile ?? 0) > 0;
      if (!at) bad('says descriptors ran out, but neither the count nor the logs show it');
    }
    if (/\bCLOSE_WAIT\b/.test(t) && c.where === 'summary' && /stay in CLOSE_WAIT|sockets? (?:sit|pile up|stay) in CLOSE_WAIT/.test(t) && (cw?.total ?? 0) === 0) bad('speaks of CLOSE_WAIT sockets, but none were measured');
    for (const m of t.matchAll(/(\d+) probes/g)) {
      const counts = probe ? [...Object.values(probe.counts), probe.attempts.length] : [];
      if (!counts.includes(Number(m[1]))) bad(`${m[0]} does not match the probe (${probe ? JSON.stringify(probe.counts) : 'not probed'})`);
    }
    if (/ListenOverflows/.test(t) && !/host-wide|kernel TCP counters \(host-wide\)/.test(t) && !/host-wide/.test(c.where)) bad('quotes the host-wide ListenOverflows without saying it is the host\'s');
  }
  if (r.diagnosis.rootCause?.id === 'listen-backlog-overflow') {
    const ls = f.tcp?.listenerSamples;
    if (!ls || ls.full === 0 || ls.samples < 2) problems.push('root cause listen-backlog-overflow without this listener full in one of two or more samples');
  }
  return problems;
}
