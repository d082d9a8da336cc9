import { deadline } from '../core/deadline.js';
import type { Facts, Finding } from '../core/facts.js';
import { asTriageError, TriageError } from '../core/errors.js';
import type { Executor } from '../integrations/exec/executor.js';
import type { Net } from '../integrations/net/net.js';
import type { AnyStep, Sample } from './step.js';

export type StepStatus = 'ok' | 'failed' | 'skipped';

export interface StepOutcome {
  id: string;
  status: StepStatus;
  /** Time spent collecting and analysing, sampling interval excluded. */
  durationMs: number;
  samples: number;
  error?: string;
  errorCode?: string;
  /** Where the step looked, in discovery order, and what each place gave. */
  sources?: { source: string; result: string }[];
}

/** Progress a caller can render live (terminal, chat). */
export type RunEvent =
  | { type: 'step-started'; step: string; description: string }
  | { type: 'step-finished'; step: string; outcome: StepOutcome; findings: Finding[] };

/** What the engine needs to build each step's input: the run's fixed data plus what earlier steps found. */
export type InputBuilder = (step: AnyStep, facts: Facts) => unknown;

export interface RunPlan {
  steps: readonly AnyStep[];
  samples: number;
  intervalMs: number;
  stepTimeoutMs: number;
  commandTimeoutMs: number;
  buildInput: InputBuilder;
}

export interface RunResult {
  facts: Facts;
  findings: Finding[];
  steps: StepOutcome[];
}

export interface RunDeps {
  exec: Executor;
  net: Net;
  signal?: AbortSignal;
  onEvent?: (event: RunEvent) => void;
  now?: () => number;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

const defaultSleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal.aborted) return reject(new TriageError('aborted', 'aborted'));
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      reject(new TriageError('aborted', 'aborted'));
    }, { once: true });
  });

/**
 * Runs a runbook's steps as a dependency graph: a step starts once the steps it needs have finished
 * (whatever their outcome), so independent steps run concurrently. Sampled steps collect `samples`
 * times, `intervalMs` apart. Each collect has its own time-out; a failing step is reported with its
 * reason and never stops the others.
 */
export async function runSteps(plan: RunPlan, deps: RunDeps): Promise<RunResult> {
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? defaultSleep;
  const runSignal = deps.signal ?? new AbortController().signal;
  const facts: Facts = {};
  const findings: Finding[] = [];
  const outcomes = new Map<string, StepOutcome>();
  const started = new Map<string, Promise<void>>();
  const byId = new Map(plan.steps.map((s) => [s.id, s]));
  for (const step of plan.steps) {
    for (const need of step.needs ?? []) {
      if (!byId.has(need)) throw new TriageError('input_invalid', `step ${step.id} needs unknown step ${need}`);
    }
  }

  const runOne = async (step: AnyStep): Promise<void> => {
    await Promise.all((step.needs ?? []).map((n) => schedule(byId.get(n) as AnyStep)));
    deps.onEvent?.({ type: 'step-started', step: step.id, description: step.description });
    const t0 = performance.now();
    let waited = 0;
    const samples: Sample<unknown>[] = [];
    let outcome: StepOutcome;
    let stepFindings: Finding[] = [];
    const parsed = step.input.safeParse(plan.buildInput(step, facts));
    if (!parsed.success) {
      const why = parsed.error.issues.map((i) => `${i.path.join('.') || 'input'}: ${i.message}`).join('; ');
      outcome = { id: step.id, status: 'skipped', durationMs: 0, samples: 0, error: `not run: ${why}`, errorCode: 'input_invalid' };
    } else {
      try {
        const count = step.sampled ? plan.samples : 1;
        for (let i = 0; i < count; i++) {
          if (i > 0) {
            const due = (samples[0]?.at ?? now()) + plan.intervalMs * i;
            const w0 = performance.now();
            await sleep(Math.max(0, due - now()), runSignal);
            waited += performance.now() - w0;
          }
          const { signal, clear } = deadline(plan.stepTimeoutMs, runSignal);
          const at = now();
          let raw: unknown;
          try {
            raw = await withDeadline(
              step.collect({ input: parsed.data, exec: deps.exec, net: deps.net, signal, commandTimeoutMs: plan.commandTimeoutMs, now }),
              signal,
              step.id,
              plan.stepTimeoutMs,
            );
          } finally {
            clear();
          }
          samples.push({ raw, at });
        }
        const analysis = step.analyze(samples, parsed.data);
        Object.assign(facts, analysis.facts);
        stepFindings = analysis.findings;
        outcome = { id: step.id, status: 'ok', durationMs: Math.round(performance.now() - t0 - waited), samples: samples.length, ...(analysis.sources ? { sources: analysis.sources } : {}) };
      } catch (err) {
        const e = asTriageError(err);
        outcome = { id: step.id, status: 'failed', durationMs: Math.round(performance.now() - t0 - waited), samples: samples.length, error: e.message, errorCode: e.code };
        if (samples.length > 0) {
          try {
            const analysis = step.analyze(samples, parsed.data);
            Object.assign(facts, analysis.facts);
            stepFindings = analysis.findings;
            outcome.error = `${e.message} (kept ${samples.length} of ${step.sampled ? plan.samples : 1} samples)`;
          } catch {
            // the partial samples did not analyse; the step stays failed with its first reason
          }
        }
      }
    }
    findings.push(...stepFindings);
    outcomes.set(step.id, outcome);
    deps.onEvent?.({ type: 'step-finished', step: step.id, outcome, findings: stepFindings });
  };

  const schedule = (step: AnyStep): Promise<void> => {
    let p = started.get(step.id);
    if (!p) {
      p = runOne(step);
      started.set(step.id, p);
    }
    return p;
  };

  await Promise.all(plan.steps.map(schedule));
  return { facts, findings, steps: plan.steps.map((s) => outcomes.get(s.id) as StepOutcome) };
}

/** Rejects when the signal fires even if the collect ignores it, so a stuck step cannot hold the run. */
function withDeadline<T>(work: Promise<T>, signal: AbortSignal, stepId: string, timeoutMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      const reason = signal.reason as Error | undefined;
      reject(
        reason?.name === 'TimeoutError'
          ? new TriageError('step_timeout', `${stepId}: did not finish within ${timeoutMs} ms`)
          : new TriageError('aborted', `${stepId}: aborted`),
      );
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(signal.aborted && (signal.reason as Error | undefined)?.name === 'TimeoutError' ? new TriageError('step_timeout', `${stepId}: did not finish within ${timeoutMs} ms`) : e);
      },
    );
  });
}
