import { z } from 'zod';
import type { Finding, ProbeAttempt, ProbeFacts } from '../core/facts.js';
import { dominantSymptom } from '../integrations/net/probe-classify.js';
import { defineStep } from '../engine/step.js';

const Input = z.object({
  address: z.string().describe('address the bot connects to'),
  port: z.number().int().describe('service port'),
  probePath: z.string().describe('HTTP path to GET'),
  probeAttempts: z.number().int().min(1).describe('how many fresh connections to try'),
  probeTimeoutMs: z.number().int().positive().describe('deadline of one attempt'),
});
type Input = z.infer<typeof Input>;

const SYMPTOM_TEXT: Record<ProbeFacts['symptom'], string> = {
  reset: 'fresh connections are reset after the request is sent',
  refused: 'connections are refused: nothing listens on the port',
  'connect-timeout': 'connections time out before the handshake completes (SYN dropped)',
  'read-timeout': 'the handshake completes but no answer comes',
  'empty-reply': 'the server closes the connection without an answer',
  'http-error': 'the service answers with HTTP 5xx',
  ok: 'the service answers',
};

export function describeSymptom(kind: ProbeFacts['symptom']): string {
  return SYMPTOM_TEXT[kind];
}

/** Reproduces the symptom from the bot's side: N fresh connections, each classified (RUNBOOK.md). */
export const probeHttpStep = defineStep<Input, ProbeAttempt[]>({
  id: 'probe-http',
  description: 'reproduce: fresh HTTP connections from the bot',
  input: Input,
  async collect(ctx) {
    const { address, port, probePath, probeAttempts, probeTimeoutMs } = ctx.input;
    const attempts: ProbeAttempt[] = [];
    const concurrency = Math.min(5, probeAttempts);
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < probeAttempts && !ctx.signal.aborted) {
          next++;
          attempts.push(await ctx.net.probe(address, port, probePath, probeTimeoutMs, ctx.signal));
        }
      }),
    );
    return attempts;
  },
  analyze(samples, input) {
    const attempts = samples.flatMap((s) => s.raw);
    const { symptom, counts } = dominantSymptom(attempts);
    const probe: ProbeFacts = { url: `http://${input.address}:${input.port}${input.probePath}`, attempts, counts, symptom };
    const failing = attempts.length - (counts.ok ?? 0);
    const connect = attempts.map((a) => a.connectMs).filter((v): v is number => v !== undefined);
    const medianConnect = connect.length ? connect.sort((a, b) => a - b)[Math.floor(connect.length / 2)] : undefined;
    const findings: Finding[] = [
      {
        id: symptom === 'ok' ? 'probe-ok' : `probe-${symptom}`,
        step: 'probe-http',
        severity: symptom === 'ok' ? 'info' : failing === attempts.length ? 'critical' : 'warning',
        title: symptom === 'ok' ? `Probe: ${attempts.length}/${attempts.length} answered` : `Probe: ${counts[symptom]}/${attempts.length} ${symptom}`,
        detail:
          `${describeSymptom(symptom)} (${Object.entries(counts).map(([k, n]) => `${k} ${n}`).join(', ')})` +
          (medianConnect !== undefined ? `; handshake ${medianConnect} ms` : ''),
        evidence: attempts.slice(0, 5).map(
          (a) => `${a.outcome}${a.error ? ` ${a.error}` : ''}${a.httpStatus ? ` HTTP ${a.httpStatus}` : ''} connect=${a.connectMs ?? '-'}ms firstByte=${a.firstByteMs ?? '-'}ms total=${a.totalMs}ms`,
        ),
      },
    ];
    return { facts: { probe }, findings };
  },
});
