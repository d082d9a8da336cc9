import type { DiagnosisResult } from './diagnosis.js';
import type { Facts, Finding, SymptomKind } from '../core/facts.js';
import type { StepOutcome } from './run.js';

/** Hypothesis ids of DESIGN.md. */
export const HYPOTHESIS_IDS = [
  'db-pool-saturation',
  'close-wait-pileup',
  'fd-exhaustion',
  'fd-leak',
  'listen-backlog-overflow',
  'process-down',
  'host-fd-exhaustion',
  'conntrack-full',
  'handler-blocked',
  'no-fault-found',
] as const;
export type HypothesisId = (typeof HYPOTHESIS_IDS)[number];

/** DESIGN.md's diagnosis (rootCause, chain, hypotheses) plus the chain's links, what was ruled out, and caveats. */
export type Diagnosis = DiagnosisResult;

/** The report object of DESIGN.md; field names are a contract (`--json`). */
export interface Report {
  runbook: string;
  target: { host: string; port: number; address: string; pid?: number; service?: string; via: 'local' | 'ssh' };
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  sampling: { samples: number; intervalMs: number };
  symptom: { kind: SymptomKind; counts: Partial<Record<SymptomKind, number>>; url: string } | { kind: null; reason: string };
  facts: Facts;
  findings: Finding[];
  diagnosis: Diagnosis;
  recommendations: { kind: string; text: string }[];
  steps: StepOutcome[];
  warnings: string[];
}

const SEVERITY_RANK = { critical: 0, warning: 1, info: 2 } as const;

export function sortFindings(findings: readonly Finding[]): Finding[] {
  return [...findings].sort((a, b) => SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity]);
}
