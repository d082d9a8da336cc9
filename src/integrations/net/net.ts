import type { ProbeAttempt } from '../../core/facts.js';

export interface HttpResponse {
  status: number;
  body: string;
  truncated: boolean;
}

/** Network I/O from the bot's side (not on the target host). */
export interface Net {
  /** One HTTP GET over a fresh TCP connection, classified into a symptom kind. Never rejects. */
  probe(address: string, port: number, path: string, timeoutMs: number, signal?: AbortSignal): Promise<ProbeAttempt>;
  /** A GET with a deadline and a body cap; rejects with a one-line reason. */
  get(url: string, opts: { timeoutMs: number; maxBytes?: number; signal?: AbortSignal; headers?: Record<string, string> }): Promise<HttpResponse>;
}
