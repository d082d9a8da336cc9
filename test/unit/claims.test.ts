import { describe, expect, it } from 'vitest';
import type { Facts } from '../../src/core/facts.js';
import type { Report } from '../../src/engine/report.js';
import { checkClaims } from '../../src/lab/claims.js';
import { connreset } from '../../src/runbooks/connreset.js';
import { DEFAULT_THRESHOLDS } from '../../src/runbooks/connreset-rules.js';
import { allOk, goPool, writeUp } from '../helpers/connreset-facts.js';

const THRESHOLDS = Object.values(DEFAULT_THRESHOLDS);

function report(f: Facts): Report {
  const steps = allOk();
  const diagnosis = connreset.diagnose(f, steps, {});
  return {
    runbook: 'connreset',
    target: { host: 'h', port: 2133, address: '10.0.0.35', via: 'local' },
    startedAt: '2026-11-25T00:00:00Z',
    finishedAt: '2026-11-25T00:00:05Z',
    durationMs: 5000,
    sampling: { samples: 2, intervalMs: 2000 },
    symptom: f.probe ? { kind: f.probe.symptom, counts: f.probe.counts, url: f.probe.url } : { kind: null, reason: 'not probed' },
    facts: f,
    findings: [],
    diagnosis,
    recommendations: connreset.recommend(diagnosis, f),
    steps,
    warnings: [],
  };
}

/** The write-up's facts with one part missing, unowned or different at a time. */
function variants(): [string, Facts][] {
  const out: [string, Facts][] = [];
  const base = () => writeUp(goPool());
  out.push(['write-up', base()]);
  out.push(['no pool', writeUp(null)]);
  for (const key of ['fds', 'tcp', 'kernel', 'logs', 'process', 'probe'] as const) {
    const f = base();
    delete f[key];
    out.push([`without ${key}`, f]);
    const g = writeUp(null);
    delete g[key];
    out.push([`no pool, without ${key}`, g]);
  }
  const unowned = base();
  (unowned.tcp as NonNullable<Facts['tcp']>).closeWait.ownedByPid = null;
  out.push(['CLOSE_WAIT owner not measured', unowned]);
  const noMax = writeUp({ source: 'http://s/metrics', format: 'node-postgres', maxOpen: null, open: 10, inUse: 10, idle: 0, waiting: 306, waitCount: null, waitDurationSec: null });
  out.push(['node-postgres waiting, no max', noMax]);
  const partial = writeUp({ source: 'http://s/metrics', format: 'node-postgres', maxOpen: null, open: 10, inUse: 10, idle: 0, waiting: null, waitCount: null, waitDurationSec: null });
  out.push(['pool partly measured', partial]);
  const room = writeUp({ ...goPool(), maxOpen: 20, inUse: 3, idle: 17, waitCountDelta: 0 });
  out.push(['pool with room', room]);
  const calm = writeUp(goPool());
  calm.fds = { ...(calm.fds as NonNullable<Facts['fds']>), open: 76, softLimit: 4096, usedRatio: 76 / 4096 };
  (calm.tcp as NonNullable<Facts['tcp']>).closeWait = { total: 0, ownedByPid: 0, notAccepted: 0 };
  calm.probe = { url: 'u', attempts: Array.from({ length: 5 }, () => ({ outcome: 'read-timeout' as const, totalMs: 2000 })), counts: { 'read-timeout': 5 }, symptom: 'read-timeout' };
  out.push(['Go: saturated pool, no CLOSE_WAIT', calm]);
  return out;
}

describe('every claim of a report is backed by a fact of the same report', () => {
  for (const [name, f] of variants()) {
    it(name, () => {
      expect(checkClaims(report(f), THRESHOLDS)).toEqual([]);
    });
  }
});

describe('the claim check catches what it is for', () => {
  it('a pool said to have room when its maximum was not measured', () => {
    const r = report(writeUp(null));
    r.diagnosis.rootCause = { id: 'handler-blocked', confidence: 0.6, summary: 'The DB pool is not the cause (pool in use 10).' };
    expect(checkClaims(r, THRESHOLDS).join('\n')).toMatch(/says the pool has room/);
  });
  it('ownership, probes, numbers and host counters', () => {
    const f = writeUp(goPool());
    (f.tcp as NonNullable<Facts['tcp']>).closeWait.ownedByPid = null;
    const r = report(f);
    r.diagnosis.links = [
      { from: 'handler-blocked', to: 'close-wait-pileup', verified: true, evidence: "96 sockets in CLOSE_WAIT are held by the process's handlers" },
      { from: 'fd-exhaustion', to: 'reset', verified: false, evidence: 'no probe saw reset' },
      { from: 'db-pool-saturation', to: 'handler-blocked', verified: true, evidence: 'WaitCount +999 in 2.0 s' },
    ];
    r.findings = [{ id: 'x', step: 'kernel-counters', severity: 'critical', title: 'ListenOverflows +7', detail: 'queue overflowed' }];
    const problems = checkClaims(r, THRESHOLDS).join('\n');
    expect(problems).toMatch(/ownership was not measured/);
    expect(problems).toMatch(/says no probe saw reset, but 5 did/);
    expect(problems).toMatch(/the number 999 is not among the facts measured/);
    expect(problems).toMatch(/host-wide ListenOverflows without saying/);
  });
});
