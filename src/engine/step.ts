import type { z } from 'zod';
import type { Facts, Finding } from '../core/facts.js';
import type { Executor } from '../integrations/exec/executor.js';
import type { Net } from '../integrations/net/net.js';

/** What a step's collect may touch: the host through `exec`, the network from the bot's side through `net`. */
export interface StepContext<I> {
  input: I;
  exec: Executor;
  net: Net;
  /** Aborts on the step's time-out or when the whole run is cancelled. */
  signal: AbortSignal;
  /** Deadline for one command of this step. */
  commandTimeoutMs: number;
  /** Bot-side wall clock (ms since epoch). */
  now(): number;
}

/** One collection of a step, stamped with the bot's clock. */
export interface Sample<R> {
  raw: R;
  at: number;
}

export interface Analysis {
  facts: Partial<Facts>;
  findings: Finding[];
  /** Where the step looked, in order, and what each place gave (shown in the report's `steps`). */
  sources?: { source: string; result: string }[];
}

/**
 * A runbook step: `collect` does I/O through the context only; `analyze` is pure and turns the raw
 * samples (one, or several when `sampled`) into facts and findings.
 */
export interface StepDefinition<I = unknown, R = unknown> {
  id: string;
  description: string;
  /** Validated by the engine before `collect`; a step whose input does not validate is skipped with the reason. */
  input: z.ZodType<I>;
  /** Steps whose facts this step's input is built from. */
  needs?: readonly string[];
  /** Collected once per sample (counters that need a rate); otherwise once. */
  sampled?: boolean;
  collect(ctx: StepContext<I>): Promise<R>;
  analyze(samples: readonly Sample<R>[], input: I): Analysis;
}

// The engine stores steps of different input and raw types side by side.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- heterogeneous registry; each step is type-checked where defined
export type AnyStep = StepDefinition<any, any>;

export function defineStep<I, R>(step: StepDefinition<I, R>): StepDefinition<I, R> {
  return step;
}
