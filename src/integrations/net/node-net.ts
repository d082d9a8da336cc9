import { connect } from 'node:net';
import { deadline } from '../../core/deadline.js';
import { TriageError } from '../../core/errors.js';
import type { ProbeAttempt } from '../../core/facts.js';
import type { HttpResponse, Net } from './net.js';
import { classifyProbe, type ProbeObservation } from './probe-classify.js';

/**
 * After an EOF with no answer, how long to wait for the RST that tells a server which closed
 * the connection without reading the request (libuv's EMFILE trick, a full backlog with
 * abort_on_overflow) from one that closed it gracefully.
 */
export const RESET_GRACE_MS = 50;

/** The real network, with Node's sockets and fetch. */
export class NodeNet implements Net {
  probe(address: string, port: number, path: string, timeoutMs: number, signal?: AbortSignal): Promise<ProbeAttempt> {
    const started = performance.now();
    const obs: ProbeObservation = { connected: false, timedOut: false, bytesReceived: 0, totalMs: 0 };
    return new Promise((resolve) => {
      // allowHalfOpen: after the server's FIN we keep listening, because an RST for the unread
      // request usually follows it within a millisecond on the same path (see RESET_GRACE_MS).
      const socket = connect({ host: address, port, noDelay: true, allowHalfOpen: true });
      let head = '';
      let done = false;
      let grace: NodeJS.Timeout | undefined;
      const finish = () => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        clearTimeout(grace);
        signal?.removeEventListener('abort', onAbort);
        obs.totalMs = performance.now() - started;
        socket.destroy();
        resolve(classifyProbe(obs));
      };
      const timer = setTimeout(() => {
        obs.timedOut = true;
        finish();
      }, timeoutMs);
      const onAbort = () => {
        obs.timedOut = true;
        finish();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      socket.on('connect', () => {
        obs.connected = true;
        obs.connectMs = performance.now() - started;
        socket.write(`GET ${path} HTTP/1.1\r\nHost: ${address}:${port}\r\nUser-Agent: triage-probe\r\nConnection: close\r\n\r\n`);
      });
      socket.on('data', (chunk: Buffer) => {
        if (obs.bytesReceived === 0 && obs.connectMs !== undefined) obs.firstByteMs = performance.now() - started - obs.connectMs;
        obs.bytesReceived += chunk.length;
        if (head.length < 1024) head += chunk.toString('latin1');
        const m = /^HTTP\/\d(?:\.\d)? (\d{3})/.exec(head);
        if (m) {
          obs.httpStatus = Number(m[1]);
          finish();
        }
      });
      socket.on('error', (err: NodeJS.ErrnoException) => {
        obs.errorCode ??= err.code ?? 'EUNKNOWN';
        finish();
      });
      socket.on('end', () => {
        if (obs.bytesReceived > 0) return finish();
        // EOF before any answer. Give an RST for our unread request a moment to arrive, then
        // write one more byte: a socket already reset fails the write (EPIPE/ECONNRESET), one
        // closed gracefully after reading the request accepts it.
        grace = setTimeout(() => {
          socket.write('\r\n', (err) => {
            if (err) obs.errorCode = (err as NodeJS.ErrnoException).code ?? 'ECONNRESET';
            finish();
          });
        }, RESET_GRACE_MS);
      });
      socket.on('close', () => {
        if (grace === undefined) finish();
      });
    });
  }

  async get(url: string, opts: { timeoutMs: number; maxBytes?: number; signal?: AbortSignal; headers?: Record<string, string> }): Promise<HttpResponse> {
    const cap = opts.maxBytes ?? 4 * 1024 * 1024;
    const { signal, clear } = deadline(opts.timeoutMs, opts.signal);
    try {
      return await this.fetchCapped(url, cap, signal, opts);
    } finally {
      clear();
    }
  }

  private async fetchCapped(url: string, cap: number, signal: AbortSignal, opts: { timeoutMs: number; headers?: Record<string, string> }): Promise<HttpResponse> {
    let res: Response;
    try {
      res = await fetch(url, { signal, headers: opts.headers ?? {}, redirect: 'error' });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause;
      const why = (err as Error).name === 'TimeoutError' ? `no answer within ${opts.timeoutMs} ms` : (cause?.code ?? (err as Error).message);
      throw new TriageError('command_failed', `GET ${url}: ${why}`);
    }
    const reader = res.body?.getReader();
    const chunks: Uint8Array[] = [];
    let size = 0;
    let truncated = false;
    try {
      while (reader) {
        const { value, done } = await reader.read();
        if (done) break;
        if (size + value.length > cap) {
          chunks.push(value.subarray(0, cap - size));
          truncated = true;
          await reader.cancel();
          break;
        }
        chunks.push(value);
        size += value.length;
      }
    } catch (err) {
      const why = (err as Error).name === 'TimeoutError' || signal.aborted ? `no answer within ${opts.timeoutMs} ms` : (err as Error).message;
      throw new TriageError('command_failed', `GET ${url}: body: ${why}`);
    }
    return { status: res.status, body: Buffer.concat(chunks).toString('utf8'), truncated };
  }
}
