import { describe, it, expect, afterEach } from 'vitest';
import { createServer, type Server, type Socket } from 'node:net';
import { TriageError } from '../../src/core/errors.js';
import type { ProbeAttempt, SymptomKind } from '../../src/core/facts.js';
import { classifyProbe, dominantSymptom, type ProbeObservation } from '../../src/integrations/net/probe-classify.js';
import { NodeNet } from '../../src/integrations/net/node-net.js';
import { freePort } from '../helpers/ports.js';

const obs = (o: Partial<ProbeObservation>): ProbeObservation => ({ connected: true, timedOut: false, bytesReceived: 0, totalMs: 12.34, ...o });

describe('classifyProbe: the symptom table', () => {
  const rows: [string, Partial<ProbeObservation>, SymptomKind][] = [
    ['RST to the SYN', { connected: false, errorCode: 'ECONNREFUSED' }, 'refused'],
    ['no SYN-ACK before our deadline', { connected: false, timedOut: true }, 'connect-timeout'],
    ['kernel ETIMEDOUT on connect', { connected: false, errorCode: 'ETIMEDOUT' }, 'connect-timeout'],
    ['reset during the handshake', { connected: false, errorCode: 'ECONNRESET' }, 'reset'],
    ['reset after the request', { errorCode: 'ECONNRESET', connectMs: 1 }, 'reset'],
    ['EOF then RST for the unread request (write fails EPIPE)', { errorCode: 'EPIPE', connectMs: 1 }, 'reset'],
    ['graceful close without a byte', { connectMs: 1 }, 'empty-reply'],
    ['connected, nothing came before our deadline', { timedOut: true, connectMs: 1 }, 'read-timeout'],
    ['HTTP 503', { httpStatus: 503, bytesReceived: 100, firstByteMs: 5 }, 'http-error'],
    ['HTTP 500', { httpStatus: 500, bytesReceived: 100 }, 'http-error'],
    ['HTTP 200', { httpStatus: 200, bytesReceived: 100 }, 'ok'],
    ['HTTP 404: the server answers', { httpStatus: 404, bytesReceived: 100 }, 'ok'],
    ['garbage then reset', { bytesReceived: 5, errorCode: 'ECONNRESET' }, 'reset'],
    ['garbage then stall', { bytesReceived: 5, timedOut: true }, 'read-timeout'],
    ['garbage then close', { bytesReceived: 5 }, 'empty-reply'],
  ];
  it.each(rows)('%s → %s', (_why, o, outcome) => {
    expect(classifyProbe(obs(o)).outcome).toBe(outcome);
  });

  it('keeps timings rounded to 0.1 ms, status and the error', () => {
    expect(classifyProbe(obs({ connectMs: 1.234, firstByteMs: 5.678, httpStatus: 503, bytesReceived: 10 }))).toEqual({
      outcome: 'http-error',
      connectMs: 1.2,
      firstByteMs: 5.7,
      totalMs: 12.3,
      httpStatus: 503,
    });
    expect(classifyProbe(obs({ connected: false, errorCode: 'ECONNREFUSED' }))).toEqual({ outcome: 'refused', totalMs: 12.3, error: 'ECONNREFUSED' });
    expect(classifyProbe(obs({ timedOut: true })).error).toBe('timeout');
  });
});

describe('dominantSymptom', () => {
  const a = (...kinds: SymptomKind[]): ProbeAttempt[] => kinds.map((outcome) => ({ outcome, totalMs: 1 }));

  it('all ok → ok', () => {
    expect(dominantSymptom(a('ok', 'ok', 'ok'))).toEqual({ symptom: 'ok', counts: { ok: 3 } });
    expect(dominantSymptom([]).symptom).toBe('ok');
  });

  it('the commonest failure wins, even over more ok answers', () => {
    expect(dominantSymptom(a('ok', 'ok', 'ok', 'read-timeout', 'read-timeout', 'reset')).symptom).toBe('read-timeout');
    expect(dominantSymptom(a('empty-reply', 'empty-reply', 'reset')).symptom).toBe('empty-reply');
  });

  it('ties go to the more specific kind, in either order', () => {
    expect(dominantSymptom(a('read-timeout', 'reset')).symptom).toBe('reset');
    expect(dominantSymptom(a('reset', 'read-timeout')).symptom).toBe('reset');
    expect(dominantSymptom(a('http-error', 'refused', 'ok')).symptom).toBe('refused');
    expect(dominantSymptom(a('empty-reply', 'connect-timeout')).symptom).toBe('connect-timeout');
    expect(dominantSymptom(a('http-error', 'read-timeout')).symptom).toBe('read-timeout');
  });

  it('counts every kind', () => {
    expect(dominantSymptom(a('ok', 'reset', 'reset', 'http-error')).counts).toEqual({ ok: 1, reset: 2, 'http-error': 1 });
  });
});

describe('NodeNet against real local servers', () => {
  const servers: Server[] = [];
  const sockets = new Set<Socket>();
  afterEach(async () => {
    for (const s of sockets) s.destroy();
    sockets.clear();
    await Promise.all(servers.splice(0).map((s) => new Promise<void>((r) => s.close(() => r()))));
  });

  async function serve(onConnection: (s: Socket) => void): Promise<number> {
    const srv = createServer((s) => {
      sockets.add(s);
      s.on('error', () => {});
      onConnection(s);
    });
    servers.push(srv);
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const addr = srv.address();
    if (addr === null || typeof addr === 'string') throw new Error('no port');
    return addr.port;
  }

  const answering = (status: string, body = 'hello') => (s: Socket) =>
    s.once('data', () => s.end(`HTTP/1.1 ${status}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`));

  const net = new NodeNet();

  it('HTTP 200 → ok with timings', async () => {
    const port = await serve(answering('200 OK'));
    const r = await net.probe('127.0.0.1', port, '/x', 2000);
    expect(r.outcome).toBe('ok');
    expect(r.httpStatus).toBe(200);
    expect(r.connectMs).toBeGreaterThanOrEqual(0);
    expect(r.firstByteMs).toBeGreaterThanOrEqual(0);
    expect(r.error).toBeUndefined();
  });

  it('sends a GET for the path with a Host header', async () => {
    let request = '';
    const port = await serve((s) =>
      s.on('data', (c: Buffer) => {
        request += c.toString();
        if (request.includes('\r\n\r\n')) s.end('HTTP/1.1 204 No Content\r\n\r\n');
      }),
    );
    await net.probe('127.0.0.1', port, '/xx/checkalive', 2000);
    expect(request.startsWith('GET /xx/checkalive HTTP/1.1\r\n')).toBe(true);
    expect(request).toContain(`Host: 127.0.0.1:${port}\r\n`);
  });

  it('HTTP 503 → http-error', async () => {
    const port = await serve(answering('503 Service Unavailable'));
    const r = await net.probe('127.0.0.1', port, '/', 2000);
    expect(r.outcome).toBe('http-error');
    expect(r.httpStatus).toBe(503);
  });

  it('a closed port → refused', async () => {
    const port = await freePort();
    const r = await net.probe('127.0.0.1', port, '/', 2000);
    expect(r.outcome).toBe('refused');
    expect(r.error).toBe('ECONNREFUSED');
    expect(r.connectMs).toBeUndefined();
  });

  it('accepts and never answers → read-timeout at our deadline', async () => {
    const port = await serve(() => {});
    const t0 = performance.now();
    const r = await net.probe('127.0.0.1', port, '/', 300);
    expect(r.outcome).toBe('read-timeout');
    expect(r.error).toBe('timeout');
    expect(r.connectMs).toBeDefined();
    expect(performance.now() - t0).toBeGreaterThanOrEqual(290);
  });

  it('reads the request, then closes gracefully → empty-reply', async () => {
    const port = await serve((s) => s.once('data', () => s.end()));
    const r = await net.probe('127.0.0.1', port, '/', 2000);
    expect(r.outcome).toBe('empty-reply');
  });

  it('resets the connection → reset', async () => {
    const port = await serve((s) => s.once('data', () => s.resetAndDestroy()));
    const r = await net.probe('127.0.0.1', port, '/', 2000);
    expect(r.outcome).toBe('reset');
    expect(r.error).toBe('ECONNRESET');
  });

  it('closes before reading the request (EOF, then RST for it) → reset', async () => {
    const port = await serve((s) => s.destroy());
    const r = await net.probe('127.0.0.1', port, '/', 2000);
    expect(r.outcome).toBe('reset');
  });

  it('an aborted signal ends the probe early', async () => {
    const port = await serve(() => {});
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const t0 = performance.now();
    const r = await net.probe('127.0.0.1', port, '/', 10_000, ac.signal);
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(r.outcome).toBe('read-timeout');
  });

  it('get: status and body', async () => {
    const port = await serve(answering('404 Not Found', 'nope'));
    expect(await net.get(`http://127.0.0.1:${port}/`, { timeoutMs: 2000 })).toEqual({ status: 404, body: 'nope', truncated: false });
  });

  it('get: a server that never answers fails with the time-out as reason', async () => {
    const port = await serve(() => {});
    const t0 = performance.now();
    let err: unknown;
    try {
      await net.get(`http://127.0.0.1:${port}/metrics`, { timeoutMs: 300 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TriageError);
    expect((err as TriageError).message).toBe(`GET http://127.0.0.1:${port}/metrics: no answer within 300 ms`);
    expect(performance.now() - t0).toBeLessThan(3000);
  });

  it('get: a body that stalls after the headers times out too', async () => {
    const port = await serve((s) => s.once('data', () => s.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc')));
    await expect(net.get(`http://127.0.0.1:${port}/`, { timeoutMs: 300 })).rejects.toThrow(/no answer within 300 ms/);
  });

  it('get: caps the body and marks it truncated', async () => {
    const body = 'x'.repeat(100_000);
    const port = await serve(answering('200 OK', body));
    const r = await net.get(`http://127.0.0.1:${port}/`, { timeoutMs: 2000, maxBytes: 1000 });
    expect(r.truncated).toBe(true);
    expect(r.body).toBe('x'.repeat(1000));
  });

  it('get: a refused connection is a one-line reason', async () => {
    const port = await freePort();
    await expect(net.get(`http://127.0.0.1:${port}/`, { timeoutMs: 2000 })).rejects.toThrow(new RegExp(`^GET http://127.0.0.1:${port}/: ECONNREFUSED$`));
  });
});
