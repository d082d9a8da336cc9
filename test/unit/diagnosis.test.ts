import { describe, expect, it } from 'vitest';
import type { Facts, PoolStats } from '../../src/core/facts.js';
import { connreset } from '../../src/runbooks/connreset.js';
import { poolFromPrometheus } from '../../src/steps/parse/pool.js';
import { parsePrometheusText } from '../../src/steps/parse/prometheus.js';
import { allOk, fixture, goPool, writeUp } from '../helpers/connreset-facts.js';

const diagnose = (f: Facts, steps = allOk(), thresholds: Record<string, number> = {}) => connreset.diagnose(f, steps, thresholds);

describe('connreset diagnosis over fact sets', () => {
  it('reaches the write-up conclusion from a Go service\'s go_sql_* metrics, every link backed by a fact', () => {
    const d = diagnose(writeUp(goPool()));
    expect(d.rootCause?.id).toBe('db-pool-saturation');
    expect(d.chain).toEqual(['db-pool-saturation', 'handler-blocked', 'close-wait-pileup', 'fd-exhaustion', 'reset']);
    expect(d.links.map((l) => l.verified)).toEqual([true, true, true, true]);
    expect(d.rootCause?.summary).toMatch(/pool in use 2\/2, WaitCount \+312 in 2\.0 s; 127\/128 fds open, 96 of them sockets in CLOSE_WAIT on :2133; fresh connections are reset after the request is sent/);
    const ruledOut = Object.fromEntries(d.ruledOut.map((r) => [r.id, r.reason]));
    expect(ruledOut['listen-backlog-overflow']).toMatch(/ListenOverflows unchanged over 2\.0 s/);
    expect(ruledOut['conntrack-full']).toBe('conntrack at 3% of max');
    expect(ruledOut['process-down']).toMatch(/PID 4242/);
    expect(ruledOut['fd-leak']).toMatch(/sockets hold/);
    expect(d.rootCause?.confidence).toBeGreaterThanOrEqual(0.9);
  });

  it('a Java service with a saturated HikariCP pool that times out: pool → HTTP 5xx', () => {
    const stats = poolFromPrometheus(parsePrometheusText(fixture('prom-hikaricp-micrometer.txt')).samples, 'http://billing:8080/actuator/prometheus');
    expect(stats).toMatchObject({ inUse: 10, maxOpen: 10, idle: 0, waiting: 37 });
    const f = writeUp(stats);
    f.probe = { url: 'http://billing:8080/', attempts: Array.from({ length: 5 }, () => ({ outcome: 'http-error' as const, httpStatus: 500, totalMs: 30_000 })), counts: { 'http-error': 5 }, symptom: 'http-error' };
    f.fds = { ...(f.fds as NonNullable<Facts['fds']>), open: 300, softLimit: 65536, usedRatio: 300 / 65536 };
    f.tcp = { ...(f.tcp as NonNullable<Facts['tcp']>), closeWait: { total: 0, ownedByPid: 0, notAccepted: 0 }, byState: { ESTAB: 40, LISTEN: 1 } };
    f.logs = { files: [], signatures: { emfile: 0, dbConnectEmfile: 0, enfile: 0, poolTimeout: 142, acceptError: 0 }, latency: { samples: 50, earlyP50Ms: 40, lateP50Ms: 30_000, trend: 'rising' } };
    const d = diagnose(f);
    expect(d.rootCause?.id).toBe('db-pool-saturation');
    expect(d.chain).toEqual(['db-pool-saturation', 'http-error']);
    expect(d.links[0]?.verified).toBe(true);
    expect(d.hypotheses.find((h) => h.id === 'fd-exhaustion')?.status).toBe('refuted');
    expect(d.rootCause?.summary).toMatch(/pool in use 10\/10, 37 requests waiting/);
  });

  it('without pool statistics never claims the pool: handlers are blocked, the cause is not measured', () => {
    const d = diagnose(writeUp(null));
    expect(d.rootCause?.id).toBe('handler-blocked');
    expect(d.chain).toEqual(['handler-blocked', 'close-wait-pileup', 'fd-exhaustion', 'reset']);
    const pool = d.hypotheses.find((h) => h.id === 'db-pool-saturation');
    expect(pool?.status).toBe('unknown');
    expect(pool?.evidence.join()).toMatch(/not measured: DB pool statistics/);
    expect(d.rootCause?.summary).toMatch(/What blocks them is not measured/);
    expect(d.rootCause?.summary).toMatch(/Check the DB pool/);
    expect(d.rootCause?.confidence).toBeLessThanOrEqual(0.6);
    const recs = connreset.recommend(d, writeUp(null));
    expect(recs.find((r) => r.kind === 'next-check')?.text).toMatch(/expose the DB pool statistics/);
  });

  it('a healthy service gets no-fault-found with the probe result, not an invented cause', () => {
    const f = writeUp({ ...goPool(), inUse: 1, idle: 1, waitCountDelta: 0 });
    f.probe = { url: 'http://10.0.0.35:2133/', attempts: Array.from({ length: 5 }, () => ({ outcome: 'ok' as const, httpStatus: 200, connectMs: 0.3, totalMs: 4 })), counts: { ok: 5 }, symptom: 'ok' };
    f.fds = { ...(f.fds as NonNullable<Facts['fds']>), open: 25, usedRatio: 25 / 128, byKind: { socket: 8, pipe: 8, anon_inode: 6, file: 3, other: 0 } };
    f.tcp = { ...(f.tcp as NonNullable<Facts['tcp']>), closeWait: { total: 0, ownedByPid: 0, notAccepted: 0 } };
    f.logs = { files: [], signatures: { emfile: 0, dbConnectEmfile: 0, enfile: 0, poolTimeout: 0, acceptError: 0 }, latency: { samples: 50, earlyP50Ms: 6, lateP50Ms: 5, trend: 'flat' } };
    const d = diagnose(f);
    expect(d.rootCause?.id).toBe('no-fault-found');
    expect(d.chain).toEqual([]);
    expect(d.rootCause?.summary).toMatch(/5\/5 probes of http:\/\/10\.0\.0\.35:2133\/ answered \(median 4 ms\)/);
  });

  it('missing or failed steps lower the confidence instead of changing the answer silently', () => {
    const full = diagnose(writeUp(goPool()));
    const kernelFailed = diagnose(writeUp(goPool()), allOk({ 'kernel-counters': 'failed' }));
    const f = writeUp(goPool());
    delete f.kernel;
    const noKernel = diagnose(f, allOk({ 'kernel-counters': 'failed' }));
    expect(noKernel.rootCause?.id).toBe(full.rootCause?.id);
    expect(noKernel.chain).toEqual(full.chain);
    expect(noKernel.rootCause?.confidence).toBeLessThan(full.rootCause?.confidence ?? 0);
    expect(noKernel.caveats.join()).toMatch(/kernel-counters failed/);
    expect(kernelFailed.caveats.join()).toMatch(/kernel-counters failed/);

    const g = writeUp(goPool());
    delete g.tcp;
    const noTcp = diagnose(g, allOk({ 'tcp-states': 'failed' }));
    expect(noTcp.rootCause?.id).toBe('db-pool-saturation');
    expect(noTcp.rootCause?.confidence).toBeLessThan(noKernel.rootCause?.confidence ?? 0);
    expect(noTcp.caveats.join()).toMatch(/does not reach the observed symptom|unverified/);
  });

  it('the order of onset decides: the pool first supports it as root, descriptors first refute it', () => {
    const poolFirst = writeUp(goPool());
    poolFirst.history = {
      source: 'http://prom:9090',
      windowSec: 3600,
      first: 'pool-saturated',
      onsets: [
        { signal: 'pool-saturated', at: '2026-11-25T03:10:00.000Z', detail: '' },
        { signal: 'latency-up', at: '2026-11-25T03:11:00.000Z', detail: '' },
        { signal: 'fds-climbing', at: '2026-11-25T03:14:00.000Z', detail: '' },
      ],
    };
    const a = diagnose(poolFirst);
    expect(a.rootCause?.id).toBe('db-pool-saturation');
    expect(a.hypotheses.find((h) => h.id === 'db-pool-saturation')?.evidence.join()).toMatch(/saturated at 2026-11-25T03:10:00.000Z, 240 s before descriptors climbed/);

    const fdsFirst = writeUp(goPool());
    fdsFirst.history = { ...poolFirst.history, first: 'fds-climbing', onsets: [{ signal: 'fds-climbing', at: '2026-11-25T03:00:00.000Z', detail: '' }, { signal: 'pool-saturated', at: '2026-11-25T03:20:00.000Z', detail: '' }] };
    const b = diagnose(fdsFirst);
    expect(b.hypotheses.find((h) => h.id === 'db-pool-saturation')?.status).toBe('refuted');
    expect(b.ruledOut.find((r) => r.id === 'db-pool-saturation')?.reason).toMatch(/descriptors climbed at 2026-11-25T03:00:00.000Z while the pool had room/);
    expect(b.rootCause?.id).not.toBe('db-pool-saturation');
  });

  it('thresholds are named and overridable', () => {
    const d = diagnose(writeUp(goPool()), allOk(), { closeWaitPileup: 500 });
    expect(d.hypotheses.find((h) => h.id === 'close-wait-pileup')?.status).toBe('refuted');
    expect(() => diagnose(writeUp(goPool()), allOk(), { bogus: 1 })).toThrow(/bogus/);
  });

  it('the other failure modes: backlog, process down, conntrack, host file table, fd leak', () => {
    const backlog = writeUp(goPool());
    backlog.pool = { stats: { ...goPool(), inUse: 0, idle: 2, waitCountDelta: 0 }, tried: [] };
    backlog.probe = { url: 'u', attempts: [], counts: { 'connect-timeout': 5 }, symptom: 'connect-timeout' };
    backlog.tcp = { port: 2133, byState: { LISTEN: 1 }, closeWait: { total: 3, ownedByPid: 0, notAccepted: 3 }, listener: { queue: 9, backlog: 8 }, listenerSamples: { samples: 2, full: 2, maxQueue: 9 } };
    backlog.kernel = { ...(backlog.kernel as NonNullable<Facts['kernel']>), delta: { listenOverflows: 57 } };
    backlog.fds = { ...(backlog.fds as NonNullable<Facts['fds']>), open: 30, usedRatio: 30 / 128 };
    backlog.logs = { files: [], signatures: { emfile: 0, dbConnectEmfile: 0, enfile: 0, poolTimeout: 0, acceptError: 0 }, latency: { samples: 50, earlyP50Ms: 100, lateP50Ms: 100, trend: 'flat' } };
    expect(diagnose(backlog).chain).toEqual(['listen-backlog-overflow', 'connect-timeout']);

    const conntrack = structuredClone(backlog);
    conntrack.tcp = { port: 2133, byState: { LISTEN: 1 }, closeWait: { total: 0, ownedByPid: 0, notAccepted: 0 }, listener: { queue: 0, backlog: 511 } };
    conntrack.kernel = { ...(conntrack.kernel as NonNullable<Facts['kernel']>), conntrack: { count: 65530, max: 65536 }, delta: { listenOverflows: 0 } };
    expect(diagnose(conntrack).chain).toEqual(['conntrack-full', 'connect-timeout']);

    const hostFull = writeUp(null);
    hostFull.tcp = conntrack.tcp;
    hostFull.fds = { ...(hostFull.fds as NonNullable<Facts['fds']>), open: 40, usedRatio: 40 / 128, host: { allocated: 9_000_000, max: 9_223_372 } };
    hostFull.logs = conntrack.logs;
    // The host's table alone says nothing about this service: its own ENFILE errors do.
    expect(diagnose(hostFull).hypotheses.find((h) => h.id === 'host-fd-exhaustion')?.status).toBe('unknown');
    hostFull.logs = { ...(conntrack.logs as NonNullable<Facts['logs']>), signatures: { emfile: 0, dbConnectEmfile: 0, enfile: 4, poolTimeout: 0, acceptError: 0 } };
    expect(diagnose(hostFull).rootCause?.id).toBe('host-fd-exhaustion');

    const down: Facts = { probe: { url: 'u', attempts: [], counts: { refused: 5 }, symptom: 'refused' }, tcp: { port: 2133, byState: {}, closeWait: { total: 0, ownedByPid: null, notAccepted: 0 }, listener: null } };
    const dd = diagnose(down, allOk({ fds: 'skipped', logs: 'skipped', 'db-stats': 'skipped' }));
    expect(dd.chain).toEqual(['process-down', 'refused']);
    expect(dd.rootCause?.confidence).toBeGreaterThanOrEqual(0.8);

    const leak = writeUp(null);
    leak.fds = { ...(leak.fds as NonNullable<Facts['fds']>), open: 128, usedRatio: 1, byKind: { socket: 5, pipe: 8, anon_inode: 6, file: 109, other: 0 }, topFiles: [{ path: '/srv/templates/page.html', count: 106 }] };
    leak.tcp = conntrack.tcp;
    leak.logs = conntrack.logs;
    const dl = diagnose(leak);
    expect(dl.chain).toEqual(['fd-leak', 'fd-exhaustion', 'reset']);
    expect(dl.rootCause?.summary).toMatch(/106× \/srv\/templates\/page\.html/);
  });
});

describe('connreset diagnosis says only what it measured', () => {
  const okProbe = (): NonNullable<Facts['probe']> => ({
    url: 'http://10.0.0.35:2133/',
    attempts: Array.from({ length: 5 }, () => ({ outcome: 'ok' as const, httpStatus: 200, connectMs: 0.3, totalMs: 4 })),
    counts: { ok: 5 },
    symptom: 'ok',
  });

  it('a healthy service whose host counted ListenOverflows elsewhere: no fault, and the counter is a host note', () => {
    const f = writeUp({ ...goPool(), inUse: 1, idle: 1, waitCountDelta: 0 });
    f.probe = okProbe();
    f.fds = { ...(f.fds as NonNullable<Facts['fds']>), open: 40, usedRatio: 40 / 128 };
    f.tcp = { port: 2133, byState: { LISTEN: 1, ESTAB: 3 }, closeWait: { total: 0, ownedByPid: 0, notAccepted: 0 }, listener: { queue: 0, backlog: 511 }, listenerSamples: { samples: 2, full: 0, maxQueue: 0 } };
    f.kernel = { ...(f.kernel as NonNullable<Facts['kernel']>), delta: { listenOverflows: 230 } };
    f.logs = { files: [], signatures: { emfile: 0, dbConnectEmfile: 0, enfile: 0, poolTimeout: 0, acceptError: 0 }, latency: { samples: 50, earlyP50Ms: 6, lateP50Ms: 5, trend: 'flat' } };
    const d = diagnose(f);
    expect(d.rootCause?.id).toBe('no-fault-found');
    const backlog = d.hypotheses.find((h) => h.id === 'listen-backlog-overflow');
    expect(backlog?.status).toBe('refuted');
    expect(backlog?.evidence.join()).toMatch(/at its backlog \(511\) in 0 of 2 samples.*host-wide ListenOverflows \+230 .* another listener on the host/);
  });

  it('the host counter without this listener measured is unknown, never supported', () => {
    const f = writeUp(null);
    delete f.tcp;
    f.kernel = { ...(f.kernel as NonNullable<Facts['kernel']>), delta: { listenOverflows: 99 } };
    expect(diagnose(f).hypotheses.find((h) => h.id === 'listen-backlog-overflow')?.status).toBe('unknown');
  });

  it('descriptors that rise with connections are load, not a leak', () => {
    const f = writeUp({ ...goPool(), inUse: 3, idle: 17, maxOpen: 20, waitCountDelta: 0 });
    f.probe = okProbe();
    f.fds = { ...(f.fds as NonNullable<Facts['fds']>), open: 900, softLimit: 1024, usedRatio: 900 / 1024, byKind: { socket: 880, pipe: 8, anon_inode: 6, file: 6, other: 0 }, growthPerSec: 40, socketGrowthPerSec: 40, nonSocketGrowthPerSec: 0 };
    f.tcp = { port: 2133, byState: { ESTAB: 870, LISTEN: 1 }, closeWait: { total: 0, ownedByPid: 0, notAccepted: 0 }, listener: { queue: 0, backlog: 511 }, listenerSamples: { samples: 2, full: 0, maxQueue: 0 } };
    f.logs = { files: [], signatures: { emfile: 0, dbConnectEmfile: 0, enfile: 0, poolTimeout: 0, acceptError: 0 }, latency: { samples: 50, earlyP50Ms: 6, lateP50Ms: 7, trend: 'flat' } };
    const d = diagnose(f);
    expect(d.rootCause?.id).toBe('no-fault-found');
    expect(d.ruledOut.find((r) => r.id === 'fd-leak')?.reason).toMatch(/growth is connections \(load\)/);
  });

  it('fd-leak evidence names the leaked pattern, not a log file open twice', () => {
    const f = writeUp(null);
    f.fds = {
      ...(f.fds as NonNullable<Facts['fds']>),
      open: 250,
      softLimit: 256,
      usedRatio: 250 / 256,
      byKind: { socket: 10, pipe: 4, anon_inode: 2, file: 234, other: 0 },
      topFiles: [{ path: '/var/log/orders.log', count: 2 }],
      fileGroups: [
        { pattern: '/srv/orders/spool/report-*.json', count: 231, distinct: 231 },
        { pattern: '/var/log/orders.log', count: 2, distinct: 1 },
      ],
      nonSocketGrowthPerSec: 12,
    };
    f.tcp = { port: 2133, byState: { LISTEN: 1 }, closeWait: { total: 0, ownedByPid: 0, notAccepted: 0 }, listener: { queue: 0, backlog: 511 }, listenerSamples: { samples: 2, full: 0, maxQueue: 0 } };
    const d = diagnose(f);
    expect(d.rootCause?.id).toBe('fd-leak');
    expect(d.rootCause?.summary).toContain('231× /srv/orders/spool/report-*.json (231 files)');
    expect(d.rootCause?.summary).not.toContain('orders.log');
    expect(connreset.recommend(d, f).find((r) => r.kind === 'fix')?.text).toContain('231× /srv/orders/spool/report-*.json, 231 files');
  });

  it('ownership not measured: no link claims the handlers own the CLOSE_WAIT sockets', () => {
    const f = writeUp(goPool());
    f.tcp = { ...(f.tcp as NonNullable<Facts['tcp']>), closeWait: { total: 96, ownedByPid: null, notAccepted: 0 } };
    delete f.fds;
    const d = diagnose(f, allOk({ fds: 'failed' }));
    const text = JSON.stringify(d);
    expect(text).not.toMatch(/owned by the process's handlers/);
    const link = d.links.find((l) => l.from === 'handler-blocked' && l.to === 'close-wait-pileup');
    expect(link?.verified).toBe(false);
    expect(link?.evidence).toMatch(/which process holds them was not measured/);
    // the probe saw resets: no link may say no probe saw it
    expect(text).not.toMatch(/no probe saw reset/);
    const last = d.links.find((l) => l.to === 'reset');
    if (last) expect(last.evidence).toMatch(/5 probes saw reset|not measured/);
  });

  it('a waiting request saturates a HikariCP or node-postgres pool even without an exported maximum', () => {
    for (const format of ['hikaricp', 'node-postgres'] as const) {
      const pool: PoolStats = { source: 'http://svc/metrics', format, maxOpen: null, open: 10, inUse: 10, idle: 0, waiting: 306, waitCount: null, waitDurationSec: null };
      const d = diagnose(writeUp(pool));
      expect(d.rootCause?.id).toBe('db-pool-saturation');
      expect(d.rootCause?.summary).toContain('pool in use 10 (maximum not reported), 306 requests waiting');
      expect(JSON.stringify(d)).not.toContain('unlimited');
    }
  });

  it('"unlimited" only when the source says so (Go MaxOpenConnections 0)', () => {
    const d = diagnose(writeUp({ ...goPool(), maxOpen: null, unlimited: true, inUse: 40, idle: 0, waitCountDelta: 0 }));
    expect(d.hypotheses.find((h) => h.id === 'db-pool-saturation')?.evidence.join()).toContain('pool in use 40 (no maximum set)');
    expect(d.hypotheses.find((h) => h.id === 'db-pool-saturation')?.status).toBe('refuted');
  });

  it('a pool measured in part is never said to have room', () => {
    const pool: PoolStats = { source: 'http://svc/metrics', format: 'node-postgres', maxOpen: null, open: 10, inUse: 10, idle: 0, waiting: null, waitCount: null, waitDurationSec: null };
    const d = diagnose(writeUp(pool));
    expect(d.rootCause?.id).toBe('handler-blocked');
    const text = JSON.stringify([d, connreset.recommend(d, writeUp(pool))]);
    expect(text).not.toMatch(/not the cause|has room/);
    expect(d.rootCause?.summary).toMatch(/only partly measured.*not measured: the pool's maximum \(not exported\), requests waiting for a connection/);
  });

  it('the pool summary states only the effects measured: no CLOSE_WAIT, descriptors far from the limit', () => {
    const f = writeUp(goPool());
    f.probe = { url: 'u', attempts: Array.from({ length: 5 }, () => ({ outcome: 'read-timeout' as const, connectMs: 0.3, totalMs: 2000 })), counts: { 'read-timeout': 5 }, symptom: 'read-timeout' };
    f.fds = { ...(f.fds as NonNullable<Facts['fds']>), open: 76, softLimit: 4096, usedRatio: 76 / 4096 };
    f.tcp = { ...(f.tcp as NonNullable<Facts['tcp']>), closeWait: { total: 0, ownedByPid: 0, notAccepted: 0 }, byState: { ESTAB: 40, LISTEN: 1 } };
    const d = diagnose(f);
    expect(d.rootCause?.id).toBe('db-pool-saturation');
    expect(d.chain).toEqual(['db-pool-saturation', 'handler-blocked', 'read-timeout']);
    expect(d.rootCause?.summary).not.toMatch(/CLOSE_WAIT|descriptors run out|descriptor limit/);
  });

  it('descriptors at the limit that keep the driver from connecting show as a link back to the pool', () => {
    const f = writeUp(goPool());
    f.logs = { files: [], signatures: { emfile: 14, dbConnectEmfile: 9, enfile: 0, poolTimeout: 0, acceptError: 5 }, latency: { samples: 50, earlyP50Ms: 900, lateP50Ms: 3200, trend: 'rising' } };
    const d = diagnose(f);
    expect(d.chain).toEqual(['db-pool-saturation', 'handler-blocked', 'close-wait-pileup', 'fd-exhaustion', 'reset']);
    const back = d.links.find((l) => l.feedback);
    expect(back).toMatchObject({ from: 'fd-exhaustion', to: 'db-pool-saturation', verified: true });
    expect(back?.evidence).toContain('9 "too many open files" errors on connect');
    expect(d.rootCause?.summary).toContain('The driver cannot open new database connections (9 "too many open files" errors)');
  });
});
