import { z } from 'zod';
import { TriageError } from '../core/errors.js';
import type { Finding, TcpFacts } from '../core/facts.js';
import { defineStep } from '../engine/step.js';
import { listFds } from './fds.js';
import { parseFdListing } from './parse/proc.js';
import { parseSs, summarizeSs } from './parse/ss.js';

const Input = z.object({
  port: z.number().int().describe('service port'),
  pid: z.number().int().positive().optional().describe('PID, to tell accepted CLOSE_WAIT sockets from queued ones'),
});
type Input = z.infer<typeof Input>;

interface Raw {
  ss: string;
  fdListing: string | null;
}

/** CLOSE_WAIT count above which it is reported as a pile-up rather than noise. */
export const CLOSE_WAIT_PILEUP = 10;

/** Sockets on the service port by state; CLOSE_WAIT held by the process vs still queued; the accept queue. */
export const tcpStatesStep = defineStep<Input, Raw>({
  id: 'tcp-states',
  description: 'TCP states on the port and the accept queue',
  input: Input,
  needs: ['process'],
  sampled: true,
  async collect(ctx) {
    const { port, pid } = ctx.input;
    const [ss, fdListing] = await Promise.all([
      ctx.exec.run(['ss', '-Htane', 'sport', '=', `:${port}`], { signal: ctx.signal, timeoutMs: ctx.commandTimeoutMs }),
      pid !== undefined ? listFds(ctx, pid).catch(() => null) : Promise.resolve(null),
    ]);
    if (ss.exitCode !== 0) throw new TriageError('command_failed', `ss: ${ss.stderr.trim() || `exit ${ss.exitCode}`}`);
    return { ss: ss.stdout, fdListing };
  },
  analyze(samples, input) {
    const summarize = (raw: Raw) => {
      const owned = raw.fdListing !== null ? new Set(parseFdListing(raw.fdListing).socketInodes) : undefined;
      return summarizeSs(parseSs(raw.ss), input.port, owned);
    };
    const last = samples[samples.length - 1];
    if (!last) return { facts: {}, findings: [] };
    const s = summarize(last.raw);
    const tcp: TcpFacts = { port: input.port, byState: s.byState, closeWait: s.closeWait, listener: s.listener };
    const listeners = samples.map((x) => summarizeSs(parseSs(x.raw.ss), input.port).listener).filter((l): l is NonNullable<typeof l> => l !== null);
    if (listeners.length > 0) {
      tcp.listenerSamples = {
        samples: listeners.length,
        full: listeners.filter((l) => l.backlog > 0 && l.queue >= l.backlog).length,
        maxQueue: Math.max(...listeners.map((l) => l.queue)),
      };
    }
    const first = samples[0];
    if (first && samples.length > 1 && last.at > first.at) {
      const before = summarize(first.raw).closeWait.total;
      tcp.closeWaitGrowthPerSec = Math.round(((s.closeWait.total - before) * 10000) / (last.at - first.at)) / 10;
    }
    const findings: Finding[] = [];
    const states = Object.entries(s.byState)
      .sort((a, b) => b[1] - a[1])
      .map(([k, n]) => `${k} ${n}`)
      .join(', ');
    const cw = s.closeWait;
    if (cw.total > 0) {
      findings.push({
        id: 'close-wait',
        step: 'tcp-states',
        severity: cw.total >= CLOSE_WAIT_PILEUP ? 'critical' : 'warning',
        title: `${cw.total} sockets in CLOSE_WAIT on :${input.port}`,
        detail:
          (cw.ownedByPid !== null ? `${cw.ownedByPid} held by PID ${input.pid} (the client hung up, the handler never closed), ` : '') +
          `${cw.notAccepted} still in the accept queue` +
          (tcp.closeWaitGrowthPerSec !== undefined ? `; ${tcp.closeWaitGrowthPerSec >= 0 ? '+' : ''}${tcp.closeWaitGrowthPerSec}/s` : ''),
        evidence: [states],
      });
    }
    if (s.listener) {
      const full = s.listener.queue >= s.listener.backlog && s.listener.backlog > 0;
      findings.push({
        id: full ? 'accept-queue-full' : 'accept-queue',
        step: 'tcp-states',
        severity: full ? 'critical' : s.listener.queue > 0 ? 'warning' : 'info',
        title: `accept queue ${s.listener.queue}/${s.listener.backlog}`,
        detail: full ? 'the listen backlog is full: new SYNs are dropped' : s.listener.queue > 0 ? 'connections wait to be accepted' : 'the process accepts promptly',
      });
    } else {
      findings.push({ id: 'no-listener', step: 'tcp-states', severity: 'critical', title: `no LISTEN socket on :${input.port}`, detail: states || 'no sockets on the port' });
    }
    if (cw.total === 0) findings.push({ id: 'tcp-states', step: 'tcp-states', severity: 'info', title: `sockets on :${input.port}`, detail: states || 'none' });
    return { facts: { tcp }, findings };
  },
});
