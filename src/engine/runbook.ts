import type { Facts } from '../core/facts.js';
import type { DiagnosisResult } from './diagnosis.js';
import type { StepOutcome } from './run.js';
import type { AnyStep } from './step.js';

/** Fixed data of one investigation, from the target, the inventory and the config. */
export interface RunContext {
  host: string;
  address: string;
  port: number;
  service: string | null;
  probePath: string;
  probeAttempts: number;
  probeTimeoutMs: number;
  logTailLines: number;
  accessLogs: string[];
  errorLogs: string[];
  metricsUrl?: string;
  expvarUrl?: string;
  prometheusUrl?: string;
  postgres?: { dsn: string; maxConnections?: number };
  pgbouncer?: { dsn: string; database?: string };
}

/** A runbook as data: its steps (the engine runs independent ones concurrently) and how inputs are built. */
export interface RunbookDefinition {
  id: string;
  title: string;
  description: string;
  steps: readonly AnyStep[];
  /** The input offered to a step: run context plus facts of the steps it needs. The step's schema picks what it uses. */
  buildInput(ctx: RunContext, step: AnyStep, facts: Facts): Record<string, unknown>;
  /** Pure: ranks the runbook's hypotheses over the facts. `thresholds` are the config's overrides. */
  diagnose(facts: Facts, steps: readonly StepOutcome[], thresholds: Record<string, number>): DiagnosisResult;
  /** Pure: what to do about it, with this incident's numbers. */
  recommend(diagnosis: DiagnosisResult, facts: Facts): { kind: string; text: string }[];
}

export function defineRunbook(rb: RunbookDefinition): RunbookDefinition {
  return rb;
}
