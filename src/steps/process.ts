import { z } from 'zod';
import { TriageError } from '../core/errors.js';
import type { Finding, ProcessFacts } from '../core/facts.js';
import { defineStep } from '../engine/step.js';
import { redactSecrets } from './parse/logs.js';
import { parseListenerPids, parsePsLine } from './parse/proc.js';

const Input = z.object({ port: z.number().int().describe('service port') });
type Input = z.infer<typeof Input>;

interface Raw {
  listeners: string;
  ps: string | null;
}

/** Finds the process listening on the port: PID, user, command line, start time. */
export const processStep = defineStep<Input, Raw>({
  id: 'process',
  description: 'find the process listening on the port',
  input: Input,
  async collect(ctx) {
    const ss = await ctx.exec.run(['ss', '-Hltnp', 'sport', '=', `:${ctx.input.port}`], { signal: ctx.signal, timeoutMs: ctx.commandTimeoutMs });
    if (ss.exitCode !== 0) throw new TriageError('command_failed', `ss: ${ss.stderr.trim() || `exit ${ss.exitCode}`}`);
    const pids = parseListenerPids(ss.stdout, ctx.input.port);
    if (pids.length === 0) {
      if (ss.stdout.trim() !== '') {
        throw new TriageError(
          'command_failed',
          `a socket listens on :${ctx.input.port} but its owner is not visible to this user: run triage as the service's user or give it sudo for the runbook commands`,
        );
      }
      return { listeners: ss.stdout, ps: null };
    }
    const ps = await ctx.exec.run(['ps', '-o', 'pid=,user=,etimes=,args=', '-p', String(pids[0])], { signal: ctx.signal, timeoutMs: ctx.commandTimeoutMs });
    return { listeners: ss.stdout, ps: ps.stdout };
  },
  analyze(samples, input) {
    const raw = samples[samples.length - 1]?.raw;
    const at = samples[samples.length - 1]?.at ?? Date.now();
    const pids = raw ? parseListenerPids(raw.listeners, input.port) : [];
    const ps = raw?.ps ? parsePsLine(raw.ps) : null;
    if (pids.length === 0 || !ps) {
      const finding: Finding = {
        id: 'process-not-listening',
        step: 'process',
        severity: 'critical',
        title: `Nothing listens on :${input.port}`,
        detail: pids.length === 0 ? `no socket in LISTEN on port ${input.port}: the process is down or listens elsewhere` : `the listener's PID ${pids[0]} exited while we looked`,
      };
      return { facts: {}, findings: [finding] };
    }
    const process: ProcessFacts = {
      pid: ps.pid,
      user: ps.user,
      command: redactSecrets(ps.args),
      startedAt: new Date(at - ps.elapsedSec * 1000).toISOString(),
      uptimeSec: ps.elapsedSec,
      otherPids: pids.filter((p) => p !== ps.pid),
    };
    return {
      facts: { process },
      findings: [
        {
          id: 'process-found',
          step: 'process',
          severity: 'info',
          title: `PID ${ps.pid} (${ps.user}) listens on :${input.port}`,
          detail: `${redactSecrets(ps.args).slice(0, 200)}; up ${formatDuration(ps.elapsedSec)}`,
        },
      ],
    };
  },
});

export function formatDuration(sec: number): string {
  if (sec < 120) return `${sec} s`;
  if (sec < 7200) return `${Math.round(sec / 60)} min`;
  if (sec < 172800) return `${Math.round(sec / 3600)} h`;
  return `${Math.round(sec / 86400)} d`;
}
