import { describe, it, expect } from 'vitest';
import { parseSs, summarizeSs } from '../../../src/steps/parse/ss.js';
import { parseFdListing } from '../../../src/steps/parse/proc.js';
import { fixture, meta } from './fixtures.js';

const lineCount = (t: string) => t.split('\n').filter((l) => l.trim() !== '').length;

describe('parseSs on a node server holding 3,000 sockets (ss -Htane, sport filter)', () => {
  const text = fixture('ss-htane-closewait-3000.txt');
  const sockets = parseSs(text);

  it('parses every row', () => {
    expect(sockets).toHaveLength(lineCount(text));
    expect(sockets).toHaveLength(meta.clients + 1);
  });

  it('summarizes states, listener and CLOSE-WAIT exactly as created', () => {
    const inodes = new Set(parseFdListing(fixture('fd-listing-node-3000.txt')).socketInodes);
    const s = summarizeSs(sockets, meta.serverPort, inodes);
    expect(s.byState).toEqual({
      LISTEN: 1,
      ESTAB: meta.clients - meta.clientsEnded,
      'CLOSE-WAIT': meta.clientsEnded,
    });
    // node's default backlog 511 (below somaxconn 4096); node accepted everything
    expect(s.listener).toEqual({ queue: 0, backlog: 511 });
    // every CLOSE-WAIT socket was accepted: a real inode, held by the server's descriptors
    expect(s.closeWait).toEqual({ total: meta.clientsEnded, ownedByPid: meta.clientsEnded, notAccepted: 0 });
    expect(summarizeSs(sockets, meta.serverPort).closeWait.ownedByPid).toBeNull();
  });

  it('reads the extended fields: inode always, uid absent for root → 0', () => {
    for (const s of sockets) {
      expect(s.inode).toBeGreaterThan(0);
      expect(s.uid).toBe(0);
      expect(s.local).toEqual({ address: '127.0.0.1', port: meta.serverPort });
    }
    const listen = sockets.find((s) => s.state === 'LISTEN');
    expect(listen?.peer).toEqual({ address: '0.0.0.0', port: null });
  });

  it('shows Recv-Q = unread bytes + 1 (the FIN) on CLOSE-WAIT sockets never read', () => {
    const rq = new Map<number, number>();
    for (const s of sockets.filter((x) => x.state === 'CLOSE-WAIT')) rq.set(s.recvQ, (rq.get(s.recvQ) ?? 0) + 1);
    expect(Object.fromEntries(rq)).toEqual({
      1: meta.clientsEnded - meta.clientsEndedWithData,
      [meta.serverRequestBytes + 1]: meta.clientsEndedWithData,
    });
  });

  it('ignores sockets of other local ports', () => {
    expect(summarizeSs(sockets, 9999)).toEqual({
      byState: {},
      closeWait: { total: 0, ownedByPid: null, notAccepted: 0 },
      listener: null,
    });
  });
});

describe('parseSs on a listener that never accepts (ino:0)', () => {
  const text = fixture('ss-htane-not-accepted.txt');
  const sockets = parseSs(text);

  it('parses every row, dual-stack addresses', () => {
    expect(sockets).toHaveLength(lineCount(text));
    const listen = sockets.filter((s) => s.state === 'LISTEN');
    expect(listen).toHaveLength(1);
    expect(listen[0]?.local).toEqual({ address: '*', port: meta.noAcceptPort });
    expect(listen[0]?.peer).toEqual({ address: '*', port: null });
    const cw = sockets.find((s) => s.state === 'CLOSE-WAIT');
    expect(cw?.local).toEqual({ address: '::ffff:127.0.0.1', port: meta.noAcceptPort });
    expect(cw?.peer.address).toBe('::ffff:127.0.0.1');
  });

  it('reports queued sockets with inode 0 and counts them as not accepted', () => {
    const queued = sockets.filter((s) => s.state !== 'LISTEN');
    expect(queued.every((s) => s.inode === 0)).toBe(true);
    const s = summarizeSs(sockets, meta.noAcceptPort, new Set([1, 2, 3]));
    expect(s.byState).toEqual({
      LISTEN: 1,
      'CLOSE-WAIT': meta.noAcceptClosed,
      ESTAB: meta.noAcceptClients - meta.noAcceptClosed,
    });
    expect(s.closeWait).toEqual({ total: meta.noAcceptClosed, ownedByPid: 0, notAccepted: meta.noAcceptClosed });
    // Recv-Q of a LISTEN socket = sockets waiting in the accept queue, Send-Q = backlog
    expect(s.listener).toEqual({ queue: meta.noAcceptClients, backlog: meta.noAcceptBacklog });
    const withData = sockets.filter((x) => x.state === 'CLOSE-WAIT' && x.recvQ === meta.noAcceptRequestBytes + 1);
    expect(withData).toHaveLength(meta.noAcceptClosedWithData);
  });
});

describe('parseSs on misc listeners (v4+v6 same port, %lo scope, link-local, TIME-WAIT)', () => {
  const text = fixture('ss-htane-misc.txt');
  const sockets = parseSs(text);

  it('parses every row', () => {
    expect(sockets).toHaveLength(lineCount(text));
  });

  it('sums the queues of v4 and v6 listeners and takes the larger backlog', () => {
    const s = summarizeSs(sockets, meta.miscPort);
    expect(s.listener).toEqual({ queue: 0, backlog: 256 });
    expect(s.byState).toEqual({ LISTEN: 2, 'TIME-WAIT': meta.miscTimeWait });
    expect(sockets.filter((x) => x.state === 'TIME-WAIT').every((x) => x.inode === 0)).toBe(true);
  });

  it('splits the interface scope from the address', () => {
    const lo = sockets.filter((x) => x.local.port === meta.miscPort + 1 && x.state === 'LISTEN');
    expect(lo.map((x) => x.local).sort((a, b) => (a.address < b.address ? -1 : 1))).toEqual([
      { address: '127.0.0.1', port: meta.miscPort + 1, scope: 'lo' },
      { address: '::1', port: meta.miscPort + 1, scope: 'lo' },
    ]);
    // 2 v4 + 1 v6 client connections sit in the accept queues of the %lo listeners
    expect(summarizeSs(sockets, meta.miscPort + 1).listener).toEqual({ queue: 3, backlog: 128 });
    const ll = sockets.find((x) => x.local.port === meta.miscPort + 2);
    if (ll) expect(ll.local).toEqual({ address: 'fe80::fc:ff:fe00:1', port: meta.miscPort + 2, scope: 'eth0' });
  });

  it('without -e gives inode and uid null', () => {
    const plain = parseSs(fixture('ss-htan-misc.txt'));
    expect(plain.length).toBeGreaterThan(10);
    expect(plain.every((x) => x.inode === null && x.uid === null)).toBe(true);
    const s = summarizeSs(plain, meta.noAcceptPort, new Set());
    expect(s.closeWait).toEqual({ total: meta.noAcceptClosed, ownedByPid: 0, notAccepted: 0 });
    expect(s.listener).toEqual({ queue: meta.noAcceptClients, backlog: meta.noAcceptBacklog });
  });
});

describe('parseSs, other shapes', () => {
  it('parses the whole host listing with uids', () => {
    const text = fixture('ss-htane-host.txt');
    const sockets = parseSs(text);
    expect(sockets).toHaveLength(lineCount(text));
    expect(sockets.some((s) => s.uid !== null && s.uid > 0)).toBe(true);
  });

  it('handles the missing State column of a single `state` filter', () => {
    const text = fixture('ss-htan-state-closewait-head20.txt');
    expect(parseSs(text, 'CLOSE-WAIT').map((s) => s.state)).toEqual(Array(20).fill('CLOSE-WAIT'));
    expect(parseSs(text).every((s) => s.state === 'UNKNOWN')).toBe(true);
  });

  it('parses SYN-RECV and skips garbage', () => {
    const text = [
      'SYN-RECV 0      0      10.0.0.5:443 203.0.113.9:51234 timer:(on,1.2sec,2) ino:0 sk:1 <->',
      'garbage line',
      'ESTAB x 0 1.2.3.4:1 5.6.7.8:2',
      'ESTAB 0 0 1.2.3.4 5.6.7.8:2',
      'ESTAB 0 0 1.2.3.4:99999 5.6.7.8:2',
      '',
      'State Recv-Q Send-Q Local Address:Port Peer Address:Port',
      'ESTAB 0 0 [2001:db8::1]:22 [2001:db8::2]:50000 uid:1000 ino:42 sk:2',
    ].join('\n');
    const s = parseSs(text);
    expect(s).toEqual([
      { state: 'SYN-RECV', recvQ: 0, sendQ: 0, local: { address: '10.0.0.5', port: 443 }, peer: { address: '203.0.113.9', port: 51234 }, inode: 0, uid: 0 },
      { state: 'ESTAB', recvQ: 0, sendQ: 0, local: { address: '2001:db8::1', port: 22 }, peer: { address: '2001:db8::2', port: 50000 }, inode: 42, uid: 1000 },
    ]);
    expect(parseSs('')).toEqual([]);
  });
});
