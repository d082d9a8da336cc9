import type { Settings } from '../config.js';
import { investigate } from '../engine/investigate.js';
import type { Report } from '../engine/report.js';
import { connreset } from '../runbooks/connreset.js';
import { freePort } from './demo.js';
import { startLab } from './lab.js';
import { checkClaims } from './claims.js';
import { expectedChain, getScenario, isScenarioId, type ScenarioId } from './scenarios.js';
import { startPostgres, type PostgresCluster } from './stacks/postgres.js';
import { getStackScenario } from './stacks/scenarios.js';
import { startStackLab } from './stacks/stack-lab.js';
import { DEFAULT_THRESHOLDS } from '../runbooks/connreset-rules.js';

export interface EvalRow {
  /** A lab scenario or a real-stack scenario (`go-…`, `java-…`, `node-…`). */
  scenario: string;
  symptom: string;
  rootCause: string;
  chain: string;
  confidence: number | null;
  /** Collection and analysis, sampling interval excluded. */
  diagnosisMs: number;
  expected: { symptom: string; rootCause: string; chain: string };
  pass: boolean;
  /** Claims of the report that no fact of the report backs (`checkClaims`); any fails the row. */
  claimProblems: string[];
  error?: string;
}

/** One scenario started, ready to investigate. */
interface Started {
  port: number;
  expected: { symptoms: readonly string[]; rootCause: string; chain: readonly string[] };
  stop(): Promise<void>;
}

/** `triage eval`: every scenario on a fresh lab, investigated locally, checked against what it should conclude. */
export async function runEval(opts: {
  scenarios: readonly string[];
  settings: Settings;
  signal: AbortSignal;
  out: (line: string) => void;
  /** A running cluster for the real-stack scenarios (left running); by default one is started and stopped. */
  pg?: PostgresCluster;
  /** Each report as it is made. */
  onReport?: (scenario: string, report: Report) => void;
}): Promise<EvalRow[]> {
  const rows: EvalRow[] = [];
  const investigation = { ...opts.settings.config.investigation, probePath: '/xx/checkalive', probeAttempts: Math.max(10, opts.settings.config.investigation.probeAttempts) };
  const settings: Settings = { ...opts.settings, config: { ...opts.settings.config, investigation } };
  let pg: PostgresCluster | null = opts.pg ?? null;
  const ownPg = opts.pg === undefined;
  const start = async (id: string, port: number): Promise<Started> => {
    if (isScenarioId(id)) {
      const sc = getScenario(id);
      const lab = await startLab({ scenario: id, port });
      if (sc.breaks) await lab.waitForFailure(60_000);
      else await lab.waitReady(15_000);
      return { port, expected: sc.expected, stop: () => lab.stop() };
    }
    const sc = getStackScenario(id);
    pg ??= await startPostgres({ maxConnections: 300 });
    const lab = await startStackLab({ scenario: id, port, pg, signal: opts.signal });
    try {
      if (sc.breaks) await lab.waitForFailure(90_000);
      else await lab.waitReady(30_000);
    } catch (err) {
      await lab.stop();
      throw err;
    }
    return { port, expected: sc.expected, stop: () => lab.stop() };
  };
  try {
    for (const id of opts.scenarios) {
      if (opts.signal.aborted) break;
      const port = await freePort();
      opts.out(`eval: ${id}: starting on 127.0.0.1:${port}`);
      let started: Started | null = null;
      let expected = { symptom: '-', rootCause: '-', chain: '-' };
      try {
        started = await start(id, port);
        const ex = started.expected;
        expected = { symptom: ex.symptoms.join(' or '), rootCause: ex.rootCause, chain: [...ex.chain, ex.symptoms.join('|')].join(' → ') };
        const report: Report = await investigate({ runbook: connreset, target: { host: '127.0.0.1', port }, settings, local: true, signal: opts.signal });
        const d = report.diagnosis;
        const symptom = report.symptom.kind ?? '-';
        opts.onReport?.(id, report);
        const claimProblems = checkClaims(report, Object.values(DEFAULT_THRESHOLDS));
        const row: EvalRow = {
          scenario: id,
          symptom,
          rootCause: d.rootCause?.id ?? '-',
          chain: d.chain.join(' → '),
          confidence: d.rootCause?.confidence ?? null,
          diagnosisMs: Math.max(0, report.durationMs - report.sampling.intervalMs * (report.sampling.samples - 1)),
          expected,
          pass:
            (d.rootCause?.id ?? '-') === ex.rootCause &&
            ex.symptoms.includes(symptom) &&
            d.chain.join(' → ') === expectedChain({ expected: { ...ex, chain: [...ex.chain] } }, symptom).join(' → ') &&
            claimProblems.length === 0,
          claimProblems,
        };
        rows.push(row);
        opts.out(`eval: ${id}: ${row.pass ? 'ok' : 'MISMATCH'}: ${row.rootCause} (${row.chain || 'no chain'})${claimProblems.length ? `; unbacked claims: ${claimProblems.join(' | ')}` : ''}`);
      } catch (err) {
        rows.push({ scenario: id, symptom: '-', rootCause: '-', chain: '', confidence: null, diagnosisMs: 0, expected, pass: false, claimProblems: [], error: (err as Error).message });
        opts.out(`eval: ${id}: failed: ${(err as Error).message}`);
      } finally {
        await started?.stop();
      }
    }
  } finally {
    if (ownPg) await (pg as PostgresCluster | null)?.stop();
  }
  return rows;
}

/** The table the README shows. */
export function renderEvalTable(rows: readonly EvalRow[]): string {
  const head = ['scenario', 'symptom', 'root cause found', 'chain', 'confidence', 'time to diagnosis', 'as expected'];
  const body = rows.map((r) => [
    r.scenario,
    r.symptom,
    r.rootCause,
    r.chain || '—',
    r.confidence === null ? '—' : `${Math.round(r.confidence * 100)}%`,
    `${r.diagnosisMs} ms`,
    r.pass ? 'yes' : `no${r.error ? `: ${r.error}` : r.claimProblems.length ? `: ${r.claimProblems.length} unbacked claims` : ` (expected ${r.expected.rootCause})`}`,
  ]);
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...body.map(line)].join('\n');
}
