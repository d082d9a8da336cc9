import type { Settings } from '../config.js';
import { investigate } from '../engine/investigate.js';
import type { Report } from '../engine/report.js';
import { connreset } from '../runbooks/connreset.js';
import { freePort } from './demo.js';
import { startLab } from './lab.js';
import { expectedChain, getScenario, type ScenarioId } from './scenarios.js';

export interface EvalRow {
  scenario: ScenarioId;
  symptom: string;
  rootCause: string;
  chain: string;
  confidence: number | null;
  /** Collection and analysis, sampling interval excluded. */
  diagnosisMs: number;
  expected: { symptom: string; rootCause: string; chain: string };
  pass: boolean;
  error?: string;
}

/** `triage eval`: every scenario on a fresh lab, investigated locally, checked against what it should conclude. */
export async function runEval(opts: { scenarios: readonly ScenarioId[]; settings: Settings; signal: AbortSignal; out: (line: string) => void }): Promise<EvalRow[]> {
  const rows: EvalRow[] = [];
  const investigation = { ...opts.settings.config.investigation, probePath: '/xx/checkalive', probeAttempts: Math.max(10, opts.settings.config.investigation.probeAttempts) };
  const settings: Settings = { ...opts.settings, config: { ...opts.settings.config, investigation } };
  for (const id of opts.scenarios) {
    if (opts.signal.aborted) break;
    const sc = getScenario(id);
    const expected = { symptom: sc.expected.symptoms.join(' or '), rootCause: sc.expected.rootCause, chain: [...sc.expected.chain, sc.expected.symptoms.join('|')].join(' → ') };
    const port = await freePort();
    opts.out(`eval: ${id}: starting the lab on 127.0.0.1:${port}`);
    const lab = await startLab({ scenario: id, port });
    try {
      if (sc.breaks) await lab.waitForFailure(60_000);
      else await lab.waitReady(15_000);
      const report: Report = await investigate({ runbook: connreset, target: { host: '127.0.0.1', port }, settings, local: true, signal: opts.signal });
      const d = report.diagnosis;
      const row: EvalRow = {
        scenario: id,
        symptom: report.symptom.kind ?? '-',
        rootCause: d.rootCause?.id ?? '-',
        chain: d.chain.join(' → '),
        confidence: d.rootCause?.confidence ?? null,
        diagnosisMs: Math.max(0, report.durationMs - report.sampling.intervalMs * (report.sampling.samples - 1)),
        expected,
        pass:
          (d.rootCause?.id ?? '-') === expected.rootCause &&
          sc.expected.symptoms.includes(report.symptom.kind ?? ('-' as never)) &&
          d.chain.join(' → ') === expectedChain(sc, report.symptom.kind ?? '-').join(' → '),
      };
      rows.push(row);
      opts.out(`eval: ${id}: ${row.pass ? 'ok' : 'MISMATCH'}: ${row.rootCause} (${row.chain || 'no chain'})`);
    } catch (err) {
      rows.push({ scenario: id, symptom: '-', rootCause: '-', chain: '', confidence: null, diagnosisMs: 0, expected, pass: false, error: (err as Error).message });
      opts.out(`eval: ${id}: failed: ${(err as Error).message}`);
    } finally {
      await lab.stop();
    }
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
    r.pass ? 'yes' : `no${r.error ? `: ${r.error}` : ` (expected ${r.expected.rootCause})`}`,
  ]);
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...body.map(line)].join('\n');
}
