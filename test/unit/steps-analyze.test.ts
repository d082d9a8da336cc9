import { describe, it, expect } from 'vitest';
import type { ProbeAttempt } from '../../src/core/facts.js';
import type { Sample } from '../../src/engine/step.js';
import { fdsStep, fdListingArgv } from '../../src/steps/fds.js';
import { KERNEL_FILES, kernelCountersStep, parseKernelCounters } from '../../src/steps/kernel-counters.js';
import { classifyLogPath, discoverLogPaths, logsStep } from '../../src/steps/logs.js';
import { probeHttpStep } from '../../src/steps/probe-http.js';
import { formatDuration, processStep } from '../../src/steps/process.js';
import { tcpStatesStep } from '../../src/steps/tcp-states.js';
import { parseFdListing } from '../../src/steps/parse/proc.js';
import { fixture, meta } from './parse/fixtures.js';

const T0 = Date.parse('2026-11-25T05:00:00.000Z');
const one = <R>(raw: R, at = T0): Sample<R>[] => [{ raw, at }];
const two = <R>(a: R, b: R, intervalMs = 2000): Sample<R>[] => [
  { raw: a, at: T0 },
  { raw: b, at: T0 + intervalMs },
];
const ids = (findings: { id: string; severity: string }[]) => findings.map((f) => `${f.id}:${f.severity}`);

describe('probe-http analyze', () => {
  const input = { address: '127.0.0.1', port: 2133, probePath: '/xx/checkalive', probeAttempts: 5, probeTimeoutMs: 3000 };
  const attempt = (outcome: ProbeAttempt['outcome'], extra: Partial<ProbeAttempt> = {}): ProbeAttempt => ({ outcome, totalMs: 10, ...extra });

  it('every attempt reset → probe-reset critical, with the URL and counts', () => {
    const attempts = Array.from({ length: 5 }, () => attempt('reset', { connectMs: 0.4, error: 'ECONNRESET' }));
    const { facts, findings } = probeHttpStep.analyze(one(attempts), input);
    expect(facts.probe).toEqual({ url: 'http://127.0.0.1:2133/xx/checkalive', attempts, counts: { reset: 5 }, symptom: 'reset' });
    expect(ids(findings)).toEqual(['probe-reset:critical']);
    expect(findings[0]?.title).toBe('Probe: 5/5 reset');
    expect(findings[0]?.detail).toContain('reset 5');
    expect(findings[0]?.detail).toContain('handshake 0.4 ms');
    expect(findings[0]?.evidence?.[0]).toContain('reset ECONNRESET');
  });

  it('some failing → warning for the commonest failure', () => {
    const attempts = [attempt('ok', { httpStatus: 200 }), attempt('read-timeout'), attempt('read-timeout'), attempt('ok', { httpStatus: 200 }), attempt('reset')];
    const { facts, findings } = probeHttpStep.analyze(one(attempts), input);
    expect(facts.probe?.symptom).toBe('read-timeout');
    expect(ids(findings)).toEqual(['probe-read-timeout:warning']);
    expect(findings[0]?.title).toBe('Probe: 2/5 read-timeout');
  });

  it('all answered → probe-ok info', () => {
    const attempts = Array.from({ length: 3 }, () => attempt('ok', { httpStatus: 200 }));
    const { facts, findings } = probeHttpStep.analyze(one(attempts), input);
    expect(facts.probe?.symptom).toBe('ok');
    expect(ids(findings)).toEqual(['probe-ok:info']);
    expect(findings[0]?.title).toBe('Probe: 3/3 answered');
  });
});

describe('process analyze', () => {
  it('finds the node server from ss -Hltnp and ps', () => {
    const at = T0;
    const { facts, findings } = processStep.analyze(one({ listeners: fixture('ss-hltnp-node.txt'), ps: fixture('ps-node.txt') }, at), { port: meta.serverPort });
    const p = facts.process!;
    expect(p.pid).toBe(meta.serverPid);
    expect(p.user).toBe('root');
    expect(p.command).toMatch(/hold-server\.mjs 2133/);
    expect(p.otherPids).toEqual([]);
    expect(Date.parse(p.startedAt)).toBe(at - p.uptimeSec * 1000);
    expect(ids(findings)).toEqual(['process-found:info']);
    expect(findings[0]?.title).toBe(`PID ${meta.serverPid} (root) listens on :${meta.serverPort}`);
  });

  it('a forked listener: the other PID is reported', () => {
    const ps = `${meta.noAcceptParentPid} root 5 python3 noaccept.py 2134 40 25\n`;
    const { facts } = processStep.analyze(one({ listeners: fixture('ss-hltnp-forked.txt'), ps }), { port: meta.noAcceptPort });
    expect(facts.process?.pid).toBe(meta.noAcceptParentPid);
    expect(facts.process?.otherPids).toEqual([meta.noAcceptChildPid]);
  });

  it('nothing listening → process-not-listening critical, no facts', () => {
    const { facts, findings } = processStep.analyze(one({ listeners: '', ps: null }), { port: 2133 });
    expect(facts).toEqual({});
    expect(ids(findings)).toEqual(['process-not-listening:critical']);
    // the listener was there but its process exited before ps ran
    const gone = processStep.analyze(one({ listeners: fixture('ss-hltnp-node.txt'), ps: '' }), { port: meta.serverPort });
    expect(gone.findings[0]?.detail).toContain(`PID ${meta.serverPid} exited`);
  });

  it('redacts secrets in the command line', () => {
    const ps = `${meta.serverPid} app 10 /usr/bin/app --dsn postgres://app:hunter2@db:5432/x\n`;
    const { facts } = processStep.analyze(one({ listeners: fixture('ss-hltnp-node.txt'), ps }), { port: meta.serverPort });
    expect(facts.process?.command).not.toContain('hunter2');
  });

  it('formatDuration', () => {
    expect(formatDuration(5)).toBe('5 s');
    expect(formatDuration(600)).toBe('10 min');
    expect(formatDuration(3 * 3600)).toBe('3 h');
    expect(formatDuration(3 * 86400)).toBe('3 d');
  });
});

describe('fds analyze', () => {
  const listing = fixture('fd-listing-node-3000.txt');
  const count = listing.split('\n').filter((l) => l !== '').length;
  const raw = (over: Partial<{ statSize: number | null; listing: string; limits: string; fileNr: string }> = {}) => ({
    statSize: null,
    listing,
    limits: fixture('proc-limits-node.txt'),
    fileNr: fixture('proc-file-nr.txt'),
    ...over,
  });

  it('counts the listing against the 20000 limit: fds-ok', () => {
    const { facts, findings } = fdsStep.analyze(one(raw()), { pid: meta.serverPid });
    const f = facts.fds!;
    expect(f.open).toBe(count);
    expect(f.countMethod).toBe('listing');
    expect(f.softLimit).toBe(20000);
    expect(f.hardLimit).toBe(20000);
    expect(f.usedRatio).toBeCloseTo(count / 20000, 10);
    expect(f.byKind.socket).toBe(meta.clients + 1);
    expect(f.topFiles[0]).toEqual({ path: '/dev/null', count: 4 });
    expect(f.host).toEqual({ allocated: 7322, max: 2466177 });
    expect(f.growthPerSec).toBeUndefined();
    expect(ids(findings)).toEqual(['fds-ok:info']);
    expect(findings[0]?.title).toBe(`${count}/20000 descriptors open (${Math.round((count / 20000) * 100)}%)`);
  });

  it('prefers the stat size of /proc/PID/fd when the kernel gives one', () => {
    const { facts } = fdsStep.analyze(one(raw({ statSize: 12345 })), { pid: 1 });
    expect(facts.fds).toMatchObject({ open: 12345, countMethod: 'stat' });
    expect(fdsStep.analyze(one(raw({ statSize: 0 })), { pid: 1 }).facts.fds?.countMethod).toBe('listing');
  });

  it('past the 1024 soft limit → fds-near-limit critical', () => {
    const { facts, findings } = fdsStep.analyze(one(raw({ limits: fixture('proc-limits-1024.txt') })), { pid: 1 });
    expect(facts.fds?.softLimit).toBe(1024);
    expect(facts.fds?.hardLimit).toBe(20000);
    expect(ids(findings)).toEqual(['fds-near-limit:critical']);
    expect(findings[0]?.detail).toContain('EMFILE');
  });

  it('at 80–95 % → warning', () => {
    const { findings } = fdsStep.analyze(one(raw({ statSize: 850, limits: fixture('proc-limits-1024.txt') })), { pid: 1 });
    expect(ids(findings)).toEqual(['fds-near-limit:warning']);
  });

  it('two samples → growth per second', () => {
    const lines = listing.split('\n').filter((l) => l !== '');
    const before = `${lines.slice(0, count - 100).join('\n')}\n`;
    const { facts, findings } = fdsStep.analyze(two(raw({ listing: before }), raw(), 2000), { pid: 1 });
    expect(facts.fds?.open).toBe(count);
    expect(facts.fds?.growthPerSec).toBe(50);
    expect(findings[0]?.detail).toContain('+50/s between samples');
  });

  it('a host file table near its max → host-fds-near-max', () => {
    expect(ids(fdsStep.analyze(one(raw({ fileNr: '9000\t0\t10000\n' })), { pid: 1 }).findings)).toContain('host-fds-near-max:warning');
    expect(ids(fdsStep.analyze(one(raw({ fileNr: '9600\t0\t10000\n' })), { pid: 1 }).findings)).toContain('host-fds-near-max:critical');
  });

  it('fdListingArgv lists NUL-terminated entries (the fixture was captured with \\n; both parse)', () => {
    expect(fdListingArgv(12)).toEqual(['find', '/proc/12/fd', '-mindepth', '1', '-maxdepth', '1', '-printf', '%f %l\\0']);
  });
});

describe('tcp-states analyze', () => {
  const ss = fixture('ss-htane-closewait-3000.txt');
  const fdListing = fixture('fd-listing-node-3000.txt');

  it('450 CLOSE-WAIT held by the process → close-wait critical; accept queue empty', () => {
    const { facts, findings } = tcpStatesStep.analyze(one({ ss, fdListing }), { port: meta.serverPort, pid: meta.serverPid });
    expect(facts.tcp).toEqual({
      port: meta.serverPort,
      byState: { LISTEN: 1, ESTAB: meta.clients - meta.clientsEnded, 'CLOSE-WAIT': meta.clientsEnded },
      closeWait: { total: meta.clientsEnded, ownedByPid: meta.clientsEnded, notAccepted: 0 },
      listener: { queue: 0, backlog: 511 },
      listenerSamples: { samples: 1, full: 0, maxQueue: 0 },
    });
    expect(ids(findings)).toEqual(['close-wait:critical', 'accept-queue:info']);
    expect(findings[0]?.detail).toContain(`${meta.clientsEnded} held by PID ${meta.serverPid}`);
  });

  it('without the fd listing the owner is unknown', () => {
    const { facts } = tcpStatesStep.analyze(one({ ss, fdListing: null }), { port: meta.serverPort });
    expect(facts.tcp?.closeWait.ownedByPid).toBeNull();
  });

  it('two samples → CLOSE-WAIT growth per second', () => {
    let dropped = 0;
    const before = ss
      .split('\n')
      .filter((l) => !(l.startsWith('CLOSE-WAIT') && dropped++ < 100))
      .join('\n');
    const { facts, findings } = tcpStatesStep.analyze(two({ ss: before, fdListing }, { ss, fdListing }, 2000), { port: meta.serverPort, pid: meta.serverPid });
    expect(facts.tcp?.closeWaitGrowthPerSec).toBe(50);
    expect(findings[0]?.detail).toContain('+50/s');
  });

  it('queued, never accepted connections → notAccepted and a non-empty accept queue', () => {
    const { facts, findings } = tcpStatesStep.analyze(one({ ss: fixture('ss-htane-not-accepted.txt'), fdListing: '' }), { port: meta.noAcceptPort, pid: meta.noAcceptParentPid });
    expect(facts.tcp?.closeWait).toEqual({ total: meta.noAcceptClosed, ownedByPid: 0, notAccepted: meta.noAcceptClosed });
    expect(facts.tcp?.listener).toEqual({ queue: meta.noAcceptClients, backlog: meta.noAcceptBacklog });
    expect(ids(findings)).toEqual(['close-wait:critical', 'accept-queue:warning']);
  });

  it('a full accept queue → accept-queue-full critical; a few CLOSE-WAIT → warning', () => {
    const text = [
      'LISTEN     129    128    0.0.0.0:8080   0.0.0.0:*     ino:100 sk:1 cgroup:/ <->',
      'CLOSE-WAIT 1      0      10.0.0.1:8080 10.0.0.2:5000 ino:101 sk:2 cgroup:/ -->',
    ].join('\n');
    const { findings } = tcpStatesStep.analyze(one({ ss: text, fdListing: null }), { port: 8080 });
    expect(ids(findings)).toEqual(['close-wait:warning', 'accept-queue-full:critical']);
  });

  it('no LISTEN socket → no-listener critical', () => {
    const { facts, findings } = tcpStatesStep.analyze(one({ ss: '', fdListing: null }), { port: 8080 });
    expect(facts.tcp?.listener).toBeNull();
    expect(ids(findings)).toEqual(['no-listener:critical', 'tcp-states:info']);
  });
});

describe('kernel-counters analyze', () => {
  const netstat = fixture('proc-net-netstat.txt');
  const snmp = fixture('proc-net-snmp.txt');
  /** What `tail -n +1 -- FILES...` prints: a header per file, a blank line between files. */
  const tailOf = (files: [string, string][]) => files.map(([p, c]) => `==> ${p} <==\n${c}`).join('\n');
  const counter = (text: string, table: string, name: string): number => {
    const rows = text.split('\n').filter((l) => l.startsWith(`${table}:`));
    const names = (rows[0] ?? '').split(/\s+/);
    return Number((rows[1] ?? '').split(/\s+/)[names.indexOf(name)]);
  };
  const bump = (text: string, table: string, name: string, by: number): string => {
    const lines = text.split('\n');
    const h = lines.findIndex((l) => l.startsWith(`${table}:`));
    const names = (lines[h] ?? '').split(/\s+/);
    const values = (lines[h + 1] ?? '').split(/\s+/);
    const i = names.indexOf(name);
    values[i] = String(Number(values[i]) + by);
    lines[h + 1] = values.join(' ');
    return lines.join('\n');
  };
  const base = tailOf([
    ['/proc/net/netstat', netstat],
    ['/proc/net/snmp', snmp],
  ]);

  it('reads the counters of one sample; no rates, conntrack not loaded', () => {
    const { facts, findings } = kernelCountersStep.analyze(one(base), {});
    expect(facts.kernel).toEqual({
      listenOverflows: counter(netstat, 'TcpExt', 'ListenOverflows'),
      listenDrops: counter(netstat, 'TcpExt', 'ListenDrops'),
      tcpAbortOnClose: counter(netstat, 'TcpExt', 'TCPAbortOnClose'),
      tcpAbortOnData: counter(netstat, 'TcpExt', 'TCPAbortOnData'),
      outRsts: counter(snmp, 'Tcp', 'OutRsts'),
      estabResets: counter(snmp, 'Tcp', 'EstabResets'),
      conntrack: null,
    });
    expect(facts.kernel?.outRsts).toBeGreaterThan(0);
    expect(ids(findings)).toEqual(['kernel-counters:info']);
    expect(findings[0]?.detail).toContain('one sample: no rates');
  });

  it('ListenOverflows up by 7 between samples → listen-overflows critical with +7', () => {
    const later = tailOf([
      ['/proc/net/netstat', bump(netstat, 'TcpExt', 'ListenOverflows', 7)],
      ['/proc/net/snmp', bump(snmp, 'Tcp', 'OutRsts', 40)],
    ]);
    const { facts, findings } = kernelCountersStep.analyze(two(base, later, 2000), {});
    expect(facts.kernel?.delta).toEqual({ listenOverflows: 7, listenDrops: 0, tcpAbortOnClose: 0, tcpAbortOnData: 0, outRsts: 40, estabResets: 0 });
    expect(facts.kernel?.intervalMs).toBe(2000);
    expect(ids(findings)).toEqual(['listen-overflows:warning', 'kernel-counters:info']);
    expect(findings[0]?.title).toMatch(/^host-wide: /);
    expect(findings[0]?.title).toBe('host-wide: ListenOverflows +7 over 2.0 s');
    expect(findings[1]?.detail).toContain('OutRsts +40');
  });

  it('no change → only the info finding', () => {
    const { findings } = kernelCountersStep.analyze(two(base, base), {});
    expect(ids(findings)).toEqual(['kernel-counters:info']);
    expect(findings[0]?.detail).toContain('ListenOverflows +0');
  });

  it('conntrack near its max → conntrack-near-max', () => {
    const text = tailOf([
      ['/proc/net/netstat', netstat],
      ['/proc/net/snmp', snmp],
      ['/proc/sys/net/netfilter/nf_conntrack_count', '900\n'],
      ['/proc/sys/net/netfilter/nf_conntrack_max', '1000\n'],
    ]);
    expect(parseKernelCounters(text)?.conntrack).toEqual({ count: 900, max: 1000 });
    expect(ids(kernelCountersStep.analyze(one(text), {}).findings)).toEqual(['conntrack-near-max:critical', 'kernel-counters:info']);
  });

  it('KERNEL_FILES are the files the sections are looked up by', () => {
    expect(KERNEL_FILES.slice(0, 2)).toEqual(['/proc/net/netstat', '/proc/net/snmp']);
  });

  it('text without the tables is a parse failure', () => {
    expect(() => kernelCountersStep.analyze(one('==> /proc/net/netstat <==\n'), {})).toThrow(/no TcpExt\/Tcp counters/);
  });
});

describe('logs analyze', () => {
  const files = [
    { path: '/var/log/orders/app.log', kind: 'app' as const },
    { path: '/var/log/nginx/access.log', kind: 'access' as const },
    { path: '/var/log/nginx/error.log', kind: 'error' as const },
  ];
  const contents = [fixture('logs/app.log'), fixture('logs/access.log'), fixture('logs/error.log')];
  const tail = files.map((f, i) => `==> ${f.path} <==\n${contents[i]}`).join('\n');
  const hostNow = 1_800_000_000;
  const stat = [`1234|${hostNow - 2}|${files[0]!.path}`, `5678|${hostNow - 45}|${files[1]!.path}`, `99|${hostNow - 1}|${files[2]!.path}`].join('\n');
  const input = { logTailLines: 200, accessLogs: [], errorLogs: [] };

  it('signatures, latency, silence, redaction', () => {
    const { facts, findings } = logsStep.analyze(one({ files, tail, stat, hostNow }), input);
    const logs = facts.logs!;
    expect(logs.files.map((f) => [f.path, f.kind, f.sizeBytes, f.lastWriteAgeSec])).toEqual([
      [files[0]!.path, 'app', 1234, 2],
      [files[1]!.path, 'access', 5678, 45],
      [files[2]!.path, 'error', 99, 1],
    ]);
    expect(logs.files[1]?.tail).toHaveLength(40);
    expect(logs.signatures).toEqual({ emfile: 3, dbConnectEmfile: 0, enfile: 0, poolTimeout: 4, acceptError: 2 });
    expect(logs.latency.trend).toBe('rising');
    expect(logs.latency.samples).toBe(40); // the access log only, not app.log's durations
    expect(JSON.stringify(logs)).not.toContain('S3cr3tPass');
    expect(ids(findings)).toEqual([
      'logs-emfile:critical',
      'logs-pool-timeout:warning',
      'logs-accept-error:critical',
      'latency-rising:warning',
      'access-log-silent:warning',
      'logs-read:info',
    ]);
    expect(findings.find((f) => f.id === 'access-log-silent')?.title).toBe('access log silent for 45 s');
    expect(findings.find((f) => f.id === 'logs-emfile')?.evidence?.every((l) => /too many open files/i.test(l))).toBe(true);
  });

  it('a recently written access log is not silent; unknown stat → null age', () => {
    const fresh = stat.replace(`${hostNow - 45}|`, `${hostNow - 3}|`);
    expect(ids(logsStep.analyze(one({ files, tail, stat: fresh, hostNow }), input).findings)).not.toContain('access-log-silent:warning');
    const { facts } = logsStep.analyze(one({ files, tail, stat: '', hostNow }), input);
    expect(facts.logs?.files.every((f) => f.lastWriteAgeSec === null && f.sizeBytes === 0)).toBe(true);
  });

  it('no files → logs-none', () => {
    const { facts, findings } = logsStep.analyze(one({ files: [], tail: '', stat: '', hostNow }), input);
    expect(facts.logs?.files).toEqual([]);
    expect(ids(findings)).toEqual(['logs-none:info']);
  });

  it('the input needs a pid or configured paths', () => {
    expect(logsStep.input.safeParse({ logTailLines: 10 }).success).toBe(false);
    expect(logsStep.input.safeParse({ logTailLines: 10, pid: 5 }).success).toBe(true);
    expect(logsStep.input.safeParse({ logTailLines: 10, accessLogs: ['relative.log'] }).success).toBe(false);
  });

  it('discovers log files among the open descriptors of the fixture process', () => {
    const paths = discoverLogPaths(parseFdListing(fixture('fd-listing-node-3000.txt')).filePaths);
    expect(paths.sort()).toEqual(['/tmp/triage-fixture/access.log', '/tmp/triage-fixture/app.log']);
    expect(classifyLogPath('/tmp/triage-fixture/access.log')).toBe('access');
    expect(classifyLogPath('/var/log/nginx/error.log')).toBe('error');
    expect(classifyLogPath('/var/log/app/stderr.log')).toBe('error');
    expect(classifyLogPath('/tmp/triage-fixture/app.log')).toBe('app');
    expect(discoverLogPaths(['/var/log/x.log (deleted)', '/proc/1/x.log', '/srv/logs/out.txt', '/var/log/y.log.1'])).toEqual(['/srv/logs/out.txt', '/var/log/y.log.1']);
  });
});

describe('logs: what an accept-error storm must not hide', () => {
  it('the last 200 lines are kept, and before them the driver errors and pool-stats lines; signatures count over all', () => {
    const early = [
      '2026/12/03 16:40:20 db stats: {MaxOpenConnections:2 OpenConnections:2 InUse:2 Idle:0 WaitCount:10 WaitDuration:3s MaxIdleClosed:0 MaxIdleTimeClosed:0 MaxLifetimeClosed:0}',
      '2026/12/03 16:40:29 checkalive: query failed: dial tcp 127.0.0.1:37867: socket: too many open files',
    ];
    const storm = Array.from({ length: 1500 }, (_, i) => `2026/12/03 16:40:3${i % 10} http: Accept error: accept tcp 127.0.0.1:45123: accept4: too many open files; retrying in 5ms`);
    const files = [{ path: '/srv/app.log', kind: 'app' as const }];
    const tail = `==> /srv/app.log <==\n${[...early, ...storm].join('\n')}\n`;
    const { facts } = logsStep.analyze(one({ files, tail, stat: '10|1800000000|/srv/app.log', hostNow: 1_800_000_001 }), { logTailLines: 2000, accessLogs: [], errorLogs: [] });
    const kept = facts.logs!.files[0]!.tail;
    expect(kept).toHaveLength(202);
    expect(kept.slice(0, 2)).toEqual(early);
    expect(facts.logs!.signatures).toMatchObject({ emfile: 1501, dbConnectEmfile: 1, acceptError: 1500 });
  });
});
