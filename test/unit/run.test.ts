import { describe, it, expect } from 'vitest';
import { z } from 'zod';
import { TriageError } from '../../src/core/errors.js';
import type { Facts } from '../../src/core/facts.js';
import { runSteps, type RunEvent, type RunPlan, type RunDeps } from '../../src/engine/run.js';
import { defineStep, type AnyStep } from '../../src/engine/step.js';
import type { CommandResult, Executor } from '../../src/integrations/exec/executor.js';
import type { Net } from '../../src/integrations/net/net.js';

const exec: Executor = {
  kind: 'local',
  host: 'fake',
  run: (argv): Promise<CommandResult> => Promise.reject(new TriageError('command_failed', `fake executor: ${argv.join(' ')}`)),
  close: async () => {},
};
const net: Net = {
  probe: async () => ({ outcome: 'ok', totalMs: 1 }),
  get: () => Promise.reject(new TriageError('command_failed', 'fake net')),
};

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

function plan(steps: AnyStep[], over: Partial<RunPlan> = {}): RunPlan {
  return { steps, samples: 1, intervalMs: 0, stepTimeoutMs: 5000, commandTimeoutMs: 1000, buildInput: () => ({}), ...over };
}

/** A step that records `<id>:start` / `<id>:end` around a short wait and reports a process fact with its id length. */
function recording(id: string, log: string[], opts: { needs?: string[]; waitMs?: number } = {}): AnyStep {
  return defineStep({
    id,
    description: `fake ${id}`,
    input: z.object({}),
    ...(opts.needs ? { needs: opts.needs } : {}),
    async collect() {
      log.push(`${id}:start`);
      await tick(opts.waitMs ?? 30);
      log.push(`${id}:end`);
      return id;
    },
    analyze: (samples) => ({ facts: {}, findings: [{ id: `${id}-done`, step: id, severity: 'info', title: String(samples[0]?.raw), detail: '' }] }),
  });
}

describe('runSteps', () => {
  it('runs a step after the steps it needs, with their facts in its input', async () => {
    const log: string[] = [];
    const seen: unknown[] = [];
    const proc = defineStep({
      id: 'process',
      description: 'p',
      input: z.object({}),
      async collect() {
        log.push('process:start');
        await tick(30);
        log.push('process:end');
        return 4242;
      },
      analyze: (s) => ({
        facts: { process: { pid: s[0]?.raw ?? 0, user: 'u', command: 'c', startedAt: '', uptimeSec: 1, otherPids: [] } },
        findings: [],
      }),
    });
    const fds = defineStep({
      id: 'fds',
      description: 'f',
      input: z.object({ pid: z.number() }),
      needs: ['process'],
      async collect(ctx) {
        log.push('fds:start');
        seen.push(ctx.input);
        return null;
      },
      analyze: () => ({ facts: {}, findings: [] }),
    });
    // listed dependent-first: order in the plan must not matter
    const r = await runSteps(plan([fds, proc], { buildInput: (_s, facts: Facts) => (facts.process ? { pid: facts.process.pid } : {}) }), { exec, net });
    expect(log).toEqual(['process:start', 'process:end', 'fds:start']);
    expect(seen).toEqual([{ pid: 4242 }]);
    expect(r.steps.map((s) => [s.id, s.status])).toEqual([
      ['fds', 'ok'],
      ['process', 'ok'],
    ]);
    expect(r.facts.process?.pid).toBe(4242);
  });

  it('a dependent step still runs when what it needs failed', async () => {
    const log: string[] = [];
    const bad = defineStep({ id: 'a', description: 'a', input: z.object({}), collect: () => Promise.reject(new Error('boom')), analyze: () => ({ facts: {}, findings: [] }) });
    const r = await runSteps(plan([bad, recording('b', log, { needs: ['a'] })]), { exec, net });
    expect(r.steps.map((s) => s.status)).toEqual(['failed', 'ok']);
    expect(log).toEqual(['b:start', 'b:end']);
  });

  it('runs independent steps concurrently', async () => {
    const log: string[] = [];
    await runSteps(plan([recording('a', log), recording('b', log), recording('c', log)]), { exec, net });
    const firstEnd = log.findIndex((e) => e.endsWith(':end'));
    expect(log.slice(0, firstEnd).sort()).toEqual(['a:start', 'b:start', 'c:start']);
  });

  it('a throwing step is failed with its message; the others are ok with their findings', async () => {
    const log: string[] = [];
    const boom = defineStep({
      id: 'boom',
      description: 'throws',
      input: z.object({}),
      collect: () => Promise.reject(new TriageError('command_failed', 'ss: Cannot open netlink socket')),
      analyze: () => ({ facts: {}, findings: [] }),
    });
    const plain = defineStep({
      id: 'plain',
      description: 'throws a plain Error',
      input: z.object({}),
      collect: async () => {
        throw new Error('first line\nsecond line');
      },
      analyze: () => ({ facts: {}, findings: [] }),
    });
    const r = await runSteps(plan([recording('a', log), boom, plain, recording('b', log)]), { exec, net });
    expect(r.steps).toEqual([
      expect.objectContaining({ id: 'a', status: 'ok', samples: 1 }),
      expect.objectContaining({ id: 'boom', status: 'failed', error: 'ss: Cannot open netlink socket', errorCode: 'command_failed', samples: 0 }),
      expect.objectContaining({ id: 'plain', status: 'failed', error: 'first line', errorCode: 'command_failed' }),
      expect.objectContaining({ id: 'b', status: 'ok' }),
    ]);
    expect(r.findings.map((f) => f.id).sort()).toEqual(['a-done', 'b-done']);
  });

  it('a step whose input does not validate is skipped with the zod reason, and never collects', async () => {
    let collected = false;
    const needsPid = defineStep({
      id: 'fds',
      description: 'f',
      input: z.object({ pid: z.number({ error: 'needs the PID of the service' }).int().positive() }),
      collect: async () => {
        collected = true;
      },
      analyze: () => ({ facts: {}, findings: [] }),
    });
    const r = await runSteps(plan([needsPid], { buildInput: () => ({ pid: 'x' }) }), { exec, net });
    expect(collected).toBe(false);
    expect(r.steps[0]).toEqual({ id: 'fds', status: 'skipped', durationMs: 0, samples: 0, error: 'not run: pid: needs the PID of the service', errorCode: 'input_invalid' });
  });

  it('a collect that never resolves fails with step_timeout after stepTimeoutMs; the others finish', async () => {
    const log: string[] = [];
    const stuck = defineStep({ id: 'stuck', description: 's', input: z.object({}), collect: () => new Promise<never>(() => {}), analyze: () => ({ facts: {}, findings: [] }) });
    const t0 = performance.now();
    const r = await runSteps(plan([stuck, recording('a', log)], { stepTimeoutMs: 200 }), { exec, net });
    const elapsed = performance.now() - t0;
    expect(r.steps[0]).toMatchObject({ id: 'stuck', status: 'failed', errorCode: 'step_timeout', error: 'stuck: did not finish within 200 ms' });
    expect(r.steps[1]).toMatchObject({ id: 'a', status: 'ok' });
    expect(elapsed).toBeGreaterThanOrEqual(195);
    expect(elapsed).toBeLessThan(5000);
  });

  it('the step signal fires at the time-out so a collect can stop its work', async () => {
    let reason: unknown;
    const listening = defineStep({
      id: 'listening',
      description: 'l',
      input: z.object({}),
      collect: (ctx) =>
        new Promise((_, reject) =>
          ctx.signal.addEventListener('abort', () => {
            reason = ctx.signal.reason;
            reject(new Error('collect saw the abort'));
          }),
        ),
      analyze: () => ({ facts: {}, findings: [] }),
    });
    const r = await runSteps(plan([listening], { stepTimeoutMs: 100 }), { exec, net });
    expect((reason as Error).name).toBe('TimeoutError');
    expect(r.steps[0]?.errorCode).toBe('step_timeout');
  });

  it('an aborted run fails the running steps with aborted', async () => {
    const ac = new AbortController();
    const stuck = defineStep({ id: 'stuck', description: 's', input: z.object({}), collect: () => new Promise<never>(() => {}), analyze: () => ({ facts: {}, findings: [] }) });
    setTimeout(() => ac.abort(), 50);
    const t0 = performance.now();
    const r = await runSteps(plan([stuck], { stepTimeoutMs: 10_000 }), { exec, net, signal: ac.signal });
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(r.steps[0]).toMatchObject({ status: 'failed', errorCode: 'aborted', error: 'stuck: aborted' });
  });

  it('an already aborted run collects nothing', async () => {
    const ac = new AbortController();
    ac.abort();
    const log: string[] = [];
    const r = await runSteps(plan([recording('a', log)]), { exec, net, signal: ac.signal });
    expect(r.steps[0]).toMatchObject({ status: 'failed', errorCode: 'aborted' });
  });

  it('an abort during the sampling interval stops a sampled step', async () => {
    const ac = new AbortController();
    const sampled = defineStep({ id: 's', description: 's', input: z.object({}), sampled: true, collect: async () => 1, analyze: (x) => ({ facts: {}, findings: [{ id: `n${x.length}`, step: 's', severity: 'info', title: '', detail: '' }] }) });
    setTimeout(() => ac.abort(), 50);
    const r = await runSteps(plan([sampled], { samples: 2, intervalMs: 10_000 }), { exec, net, signal: ac.signal });
    expect(r.steps[0]).toMatchObject({ status: 'failed', errorCode: 'aborted', samples: 1 });
    // the one sample taken is still analysed and reported
    expect(r.steps[0]?.error).toMatch(/kept 1 of 2 samples/);
    expect(r.findings.map((f) => f.id)).toEqual(['n1']);
  });

  it('sampled steps collect `samples` times, intervalMs apart on the injected clock; durationMs excludes the interval', async () => {
    let clock = 1_000_000;
    const sleeps: number[] = [];
    const deps: RunDeps = {
      exec,
      net,
      now: () => clock,
      sleep: async (ms) => {
        sleeps.push(ms);
        await tick(150); // real time passes too: it must not count in durationMs
        clock += ms;
      },
    };
    const ats: number[] = [];
    let analysed: number[] = [];
    const sampled = defineStep({
      id: 'kernel',
      description: 'k',
      input: z.object({}),
      sampled: true,
      async collect(ctx) {
        ats.push(ctx.now());
        clock += 100; // each collect takes 100 ms of the injected clock
        return ats.length;
      },
      analyze: (samples) => {
        analysed = samples.map((s) => s.at);
        return { facts: {}, findings: [] };
      },
    });
    let onceCollects = 0;
    const once = defineStep({ id: 'once', description: 'o', input: z.object({}), collect: async () => ++onceCollects, analyze: () => ({ facts: {}, findings: [] }) });
    const r = await runSteps(plan([sampled, once], { samples: 3, intervalMs: 1000 }), deps);
    expect(ats).toEqual([1_000_000, 1_001_000, 1_002_000]);
    expect(analysed).toEqual(ats);
    expect(sleeps).toEqual([900, 900]);
    expect(onceCollects).toBe(1);
    expect(r.steps[0]).toMatchObject({ id: 'kernel', status: 'ok', samples: 3 });
    expect(r.steps[1]).toMatchObject({ id: 'once', status: 'ok', samples: 1 });
    expect(r.steps[0]!.durationMs).toBeLessThan(150);
  });

  it('a sample that fails after the first keeps the ones taken, and says so', async () => {
    let n = 0;
    const flaky = defineStep({
      id: 'flaky',
      description: 'f',
      input: z.object({}),
      sampled: true,
      collect: async () => {
        if (++n > 1) throw new TriageError('ssh_dropped', 'connection lost');
        return 7;
      },
      analyze: (s) => ({ facts: {}, findings: [{ id: 'seen', step: 'flaky', severity: 'info', title: String(s.length), detail: '' }] }),
    });
    const r = await runSteps(plan([flaky], { samples: 2, intervalMs: 1 }), { exec, net });
    expect(r.steps[0]).toMatchObject({ status: 'failed', errorCode: 'ssh_dropped', samples: 1, error: 'connection lost (kept 1 of 2 samples)' });
    expect(r.findings).toEqual([expect.objectContaining({ id: 'seen', title: '1' })]);
  });

  it('progress: started then finished for every step, dependents after what they need', async () => {
    const log: string[] = [];
    const events: RunEvent[] = [];
    const boom = defineStep({ id: 'boom', description: 'boom step', input: z.object({}), collect: () => Promise.reject(new Error('x')), analyze: () => ({ facts: {}, findings: [] }) });
    await runSteps(plan([recording('a', log), recording('b', log, { needs: ['a'] }), boom]), { exec, net, onEvent: (e) => events.push(e) });
    const seq = events.map((e) => `${e.step}:${e.type === 'step-started' ? 'started' : 'finished'}`);
    for (const id of ['a', 'b', 'boom']) {
      const s = seq.indexOf(`${id}:started`);
      const f = seq.indexOf(`${id}:finished`);
      expect(s).toBeGreaterThanOrEqual(0);
      expect(f).toBeGreaterThan(s);
      expect(seq.filter((x) => x.startsWith(`${id}:`))).toHaveLength(2);
    }
    expect(seq.indexOf('b:started')).toBeGreaterThan(seq.indexOf('a:finished'));
    const started = events.find((e) => e.type === 'step-started' && e.step === 'boom');
    expect(started).toEqual({ type: 'step-started', step: 'boom', description: 'boom step' });
    const finished = events.find((e) => e.type === 'step-finished' && e.step === 'a');
    expect(finished?.type === 'step-finished' && finished.findings.map((f) => f.id)).toEqual(['a-done']);
    const failed = events.find((e) => e.type === 'step-finished' && e.step === 'boom');
    expect(failed?.type === 'step-finished' && failed.outcome.status).toBe('failed');
  });

  it('refuses a plan whose step needs an unknown step', async () => {
    const log: string[] = [];
    await expect(runSteps(plan([recording('a', log, { needs: ['nope'] })]), { exec, net })).rejects.toThrow(/step a needs unknown step nope/);
    expect(log).toEqual([]);
  });
});
