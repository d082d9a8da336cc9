import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  parseLimits,
  nofileLimit,
  parseFdListing,
  parseFileNr,
  parseSnmpTables,
  parseTailSections,
  parsePsLine,
  parseListenerPids,
} from '../../../src/steps/parse/proc.js';
import { fixture, meta, FIXTURES } from './fixtures.js';

describe('parseLimits / nofileLimit', () => {
  it('reads the node server limits (started under prlimit --nofile=20000:20000)', () => {
    const text = fixture('proc-limits-node.txt');
    const l = parseLimits(text);
    expect(Object.keys(l)).toHaveLength(16);
    expect(l['Max open files']).toEqual({ soft: 20000, hard: 20000, units: 'files' });
    expect(nofileLimit(text)).toEqual({ soft: 20000, hard: 20000 });
  });

  it('reads soft ≠ hard, unlimited and rows without units', () => {
    const l = parseLimits(fixture('proc-limits-1024.txt'));
    expect(l['Max open files']).toEqual({ soft: 1024, hard: 20000, units: 'files' });
    expect(l['Max cpu time']).toEqual({ soft: null, hard: null, units: 'seconds' });
    expect(l['Max nice priority']).toEqual({ soft: 0, hard: 0, units: null });
    expect(l['Max realtime timeout']).toEqual({ soft: null, hard: null, units: 'us' });
    expect(l['Limit']).toBeUndefined();
  });

  it('returns empty / null on garbage', () => {
    expect(parseLimits('nothing here\n\x00\x01')).toEqual({});
    expect(nofileLimit('')).toBeNull();
  });
});

describe('parseFdListing', () => {
  const text = fixture('fd-listing-node-3000.txt');
  const r = parseFdListing(text);

  it('counts the node server descriptors by kind', () => {
    const lines = text.split('\n').filter((l) => l !== '');
    expect(r.count).toBe(lines.length);
    // 3000 accepted + the listener
    expect(r.byKind.socket).toBe(meta.clients + 1);
    expect(r.socketInodes).toHaveLength(meta.clients + 1);
    expect(r.byKind.pipe).toBe(9);
    expect(r.byKind.anon_inode).toBe(6);
    expect(r.byKind.other).toBe(0);
    expect(r.byKind.file).toBe(r.count - r.byKind.socket - r.byKind.pipe - r.byKind.anon_inode);
  });

  it('ranks files and keeps deleted ones as printed', () => {
    // stdin, the opened /dev/null and two more /dev/null from node; app.log opened 3 times
    expect(r.topFiles[0]).toEqual({ path: '/dev/null', count: 4 });
    expect(r.topFiles[1]).toEqual({ path: '/tmp/triage-fixture/app.log', count: 3 });
    expect(r.filePaths).toContain('/tmp/triage-fixture/gone.tmp (deleted)');
    expect(new Set(r.filePaths).size).toBe(r.filePaths.length);
  });

  it('classifies every kind, skips garbage, caps topFiles at 10', () => {
    const lines = ['0 socket:[12]', '1 pipe:[3]', '2 anon_inode:inotify', '3 net:[4026531840]', 'x /bad', '4', '', '5 /a b/c d.log'];
    for (let i = 0; i < 12; i++) lines.push(`${10 + i} /f${i}`);
    const s = parseFdListing(lines.join('\n'));
    expect(s.count).toBe(17);
    expect(s.byKind).toEqual({ socket: 1, pipe: 1, anon_inode: 1, file: 13, other: 1 });
    expect(s.socketInodes).toEqual([12]);
    expect(s.topFiles).toHaveLength(10);
    expect(s.filePaths).toContain('/a b/c d.log');
  });

  it('reads NUL-terminated entries: a file name with a newline stays one entry and forges none', () => {
    const text = ['0 /dev/null', '1 pipe:[3]', '3 /var/app/up\n7 /etc/shadow\n8 socket:[99].log', '4 socket:[12]', ''].join('\0');
    const s = parseFdListing(text);
    expect(s.count).toBe(4);
    expect(s.byKind).toMatchObject({ socket: 1, pipe: 1, file: 2 });
    expect(s.socketInodes).toEqual([12]);
    expect(s.filePaths).toEqual(expect.arrayContaining(['/dev/null', '/var/app/up\n7 /etc/shadow\n8 socket:[99].log']));
    expect(s.filePaths).not.toContain('/etc/shadow');
  });

  it('the captured fixture (newline-separated) and the same entries NUL-terminated parse alike', () => {
    const nul = text.split('\n').filter((l) => l !== '').map((l) => `${l}\0`).join('');
    expect(parseFdListing(nul)).toEqual(r);
  });
});

describe('parseFileNr', () => {
  it('reads the host file table', () => {
    const r = parseFileNr(fixture('proc-file-nr.txt'));
    expect(r).not.toBeNull();
    expect(r!.allocated).toBeGreaterThan(meta.clients);
    expect(r!.max).toBeGreaterThan(r!.allocated);
    expect(parseFileNr('1\t2')).toBeNull();
    expect(parseFileNr('')).toBeNull();
  });
});

describe('parseSnmpTables', () => {
  const netstat = fixture('proc-net-netstat.txt');
  const snmp = fixture('proc-net-snmp.txt');

  it('merges /proc/net/netstat and /proc/net/snmp', () => {
    const r = parseSnmpTables(netstat + snmp);
    const tcpExtNames = (netstat.split('\n')[0] ?? '').split(/\s+/).slice(1).filter(Boolean);
    expect(Object.keys(r.TcpExt ?? {})).toEqual(tcpExtNames);
    for (const k of ['ListenOverflows', 'ListenDrops', 'TCPAbortOnClose', 'TCPAbortOnData']) expect(typeof r.TcpExt?.[k]).toBe('number');
    expect(typeof r.Tcp?.OutRsts).toBe('number');
    expect(typeof r.Tcp?.EstabResets).toBe('number');
    // the capture opened thousands of connections on this host
    expect(r.Tcp?.PassiveOpens).toBeGreaterThan(meta.clients);
    expect(r.Tcp?.MaxConn).toBe(-1);
    expect(r.IpExt).toBeDefined();
    expect(r.Udp).toBeDefined();
  });

  it('needs matching header/value pairs', () => {
    expect(parseSnmpTables('Tcp: A B\nTcp: 1\nTcp: 1 2 3\nX: 1 2')).toEqual({});
    expect(parseSnmpTables('Tcp: A B\nTcp: 1 2\n')).toEqual({ Tcp: { A: 1, B: 2 } });
  });
});

describe('parseTailSections', () => {
  const log = (n: string) => readFileSync(join(FIXTURES, 'logs', n), 'utf8');

  it('splits several files exactly, including an empty one', () => {
    const s = parseTailSections(fixture('tail-multi.txt'));
    expect(s.map((x) => x.path)).toEqual(['logs/access.log', 'logs/empty.log', 'logs/app.log']);
    expect(s[0]?.content).toBe(log('access.log'));
    expect(s[1]?.content).toBe('');
    expect(s[2]?.content).toBe(log('app.log'));
  });

  it('handles a file without a trailing newline (no blank line before the next header)', () => {
    const s = parseTailSections(fixture('tail-no-trailing-newline.txt'));
    expect(s).toEqual([
      { path: 'logs/partial.log', content: log('partial.log') },
      { path: 'logs/error.log', content: log('error.log') },
    ]);
    expect(s[0]?.content.endsWith('without newline')).toBe(true);
  });

  it('tail -n 2 of two files, and one file without header', () => {
    const two = parseTailSections(fixture('tail-n2.txt'));
    expect(two.map((x) => x.content.split('\n').filter(Boolean).length)).toEqual([2, 2]);
    expect(two[1]?.content).toBe(log('error.log').split('\n').slice(-3).join('\n'));
    const one = parseTailSections(fixture('tail-single.txt'));
    expect(one).toEqual([{ path: '', content: log('error.log').split('\n').slice(-4).join('\n') }]);
    expect(parseTailSections('')).toEqual([]);
  });

  it('documented limitation: a content line of the exact header form splits the section', () => {
    const s = parseTailSections('==> a <==\nx\n==> fake <==\ny\n');
    expect(s.map((x) => x.path)).toEqual(['a', 'fake']);
    // but text merely containing the arrows is content
    expect(parseTailSections('==> a <==\nsee ==> b <== here\n')).toEqual([{ path: 'a', content: 'see ==> b <== here\n' }]);
  });
});

describe('parsePsLine', () => {
  it('reads the node server', () => {
    const r = parsePsLine(fixture('ps-node.txt'));
    expect(r).not.toBeNull();
    expect(r!.pid).toBe(meta.serverPid);
    expect(r!.user).toBe('root');
    expect(r!.elapsedSec).toBeGreaterThanOrEqual(0);
    expect(r!.args).toMatch(/^node \S+hold-server\.mjs 2133 \/tmp\/triage-fixture$/);
  });

  it('reads a numeric uid (no name for it)', () => {
    expect(parsePsLine(fixture('ps-numeric-uid.txt'))).toEqual({
      pid: meta.numericUidPid,
      user: String(meta.numericUid),
      elapsedSec: expect.any(Number) as number,
      args: 'sleep 1000',
    });
  });

  it('null on empty / garbage', () => {
    expect(parsePsLine('')).toBeNull();
    expect(parsePsLine('PID USER ELAPSED COMMAND')).toBeNull();
    expect(parsePsLine('  12 www-data 5')).toEqual({ pid: 12, user: 'www-data', elapsedSec: 5, args: '' });
  });
});

describe('parseListenerPids', () => {
  it('lists both pids sharing a forked listener', () => {
    const pids = parseListenerPids(fixture('ss-hltnp-forked.txt'), meta.noAcceptPort);
    expect([...pids].sort()).toEqual([meta.noAcceptParentPid, meta.noAcceptChildPid].sort());
  });

  it('reads the node listener, and nothing for another port', () => {
    const text = fixture('ss-hltnp-node.txt');
    expect(parseListenerPids(text, meta.serverPort)).toEqual([meta.serverPid]);
    expect(parseListenerPids(text, 80)).toEqual([]);
  });

  it('keeps order of appearance and dedups across v4/v6 rows', () => {
    const text = [
      'LISTEN 0 511 0.0.0.0:8080 0.0.0.0:* users:(("node",pid=1235,fd=20),("node",pid=1234,fd=20))',
      'LISTEN 0 511 [::]:8080 [::]:* users:(("node",pid=1234,fd=21),("my app",pid=77,fd=3))',
      'LISTEN 0 511 0.0.0.0:8081 0.0.0.0:* users:(("other",pid=5,fd=3))',
    ].join('\n');
    expect(parseListenerPids(text, 8080)).toEqual([1235, 1234, 77]);
  });
});
