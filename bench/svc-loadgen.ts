// The storm's load generator, run as its own process by svc-common.ts `runStorm()`:
// `node --import tsx bench/svc-loadgen.ts '<StormOptions JSON>'`. Builds every payload first, then
// keeps up to `concurrency` requests in flight over keep-alive connections, as fast as they are
// answered or, with `rate`, each request sent when it is due (its latency counted from when it was
// due, so a server falling behind is not hidden by the generator waiting for it); prints `STARTED` when it
// begins sending and `RESULT <StormOutcome JSON>` at the end.

import { Agent, request } from 'node:http';
import { z } from 'zod';
import { alertmanagerPayload, type StormOutcome } from './svc-common.js';

const Options = z.object({
  url: z.string().url(),
  token: z.string().min(1),
  ports: z.array(z.number().int().min(1).max(65_535)).min(1),
  alerts: z.number().int().min(1),
  perRequest: z.number().int().min(1).max(1000),
  concurrency: z.number().int().min(1).max(1000),
  runId: z.string().regex(/^[0-9a-f]{1,16}$/),
  /** Paced (open loop): alerts per second offered; request i is due at i / (rate / perRequest) s. Absent: as fast as answered. */
  rate: z.number().positive().optional(),
  /** Alerts sent first, as fast as answered and not measured (a long-running serve is past its JIT and script loading). */
  warmup: z.number().int().min(0).default(0),
});

const opts = Options.parse(JSON.parse(process.argv[2] ?? '{}'));

// Request r carries the next perRequest alerts, for target r % ports (a group per target, in turn).
function build(alerts: number, firstSeq: number): Buffer[] {
  const out: Buffer[] = [];
  for (let seq = 0, r = 0; seq < alerts; r++) {
    const n = Math.min(opts.perRequest, alerts - seq);
    const group = Array.from({ length: n }, (_, i) => ({ seq: firstSeq + seq + i, runId: opts.runId }));
    out.push(Buffer.from(alertmanagerPayload(opts.ports[r % opts.ports.length]!, group)));
    seq += n;
  }
  return out;
}
const warm = build(opts.warmup, 0);
const bodies = build(opts.alerts, opts.warmup);

const url = new URL(opts.url);
const agent = new Agent({ keepAlive: true, maxSockets: opts.concurrency });
const headers = { 'content-type': 'application/json', authorization: `Bearer ${opts.token}` };

function post(body: Buffer, dueAt?: number): Promise<{ status: number; ms: number }> {
  return new Promise((resolve, reject) => {
    const t0 = dueAt ?? performance.now();
    const req = request(url, { method: 'POST', agent, headers: { ...headers, 'content-length': String(body.length) } }, (res) => {
      res.on('data', () => {});
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - t0 }));
    });
    req.on('error', reject);
    req.setTimeout(30_000, () => req.destroy(new Error('request timed out after 30 s')));
    req.end(body);
  });
}

const latenciesMs: number[] = new Array<number>(bodies.length);
const statuses: Record<string, number> = {};
const errors: string[] = [];
let w = 0;
await Promise.all(
  Array.from({ length: opts.concurrency }, async () => {
    while (w < warm.length) {
      const r = await post(warm[w++]!);
      if (r.status !== 200) throw new Error(`warm-up request answered HTTP ${r.status}`);
    }
  }),
);
let next = 0;
process.stdout.write('STARTED\n');
const t0 = performance.now();
const intervalMs = opts.rate === undefined ? 0 : (1000 * opts.perRequest) / opts.rate;
await Promise.all(
  Array.from({ length: opts.concurrency }, async () => {
    while (next < bodies.length) {
      const i = next++;
      const dueAt = opts.rate === undefined ? undefined : t0 + i * intervalMs;
      if (dueAt !== undefined && dueAt > performance.now()) await new Promise((r) => setTimeout(r, dueAt - performance.now()));
      try {
        const r = await post(bodies[i]!, dueAt);
        latenciesMs[i] = r.ms;
        statuses[r.status] = (statuses[r.status] ?? 0) + 1;
        if (r.status !== 200 && errors.length < 5) errors.push(`HTTP ${r.status}`);
      } catch (err) {
        latenciesMs[i] = Number.NaN;
        statuses['0'] = (statuses['0'] ?? 0) + 1;
        if (errors.length < 5) errors.push((err as Error).message);
      }
    }
  }),
);
const wallMs = performance.now() - t0;
agent.destroy();
const outcome: StormOutcome = {
  requests: bodies.length,
  alerts: opts.alerts,
  statuses,
  errors,
  latenciesMs: latenciesMs.filter((x) => Number.isFinite(x)),
  wallMs,
};
process.stdout.write(`RESULT ${JSON.stringify(outcome)}\n`);
