import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadSettings } from '../../src/config.js';
import type { Report } from '../../src/engine/report.js';
import { runEval } from '../../src/lab/eval.js';
import { startPostgres, type PostgresCluster } from '../../src/lab/stacks/postgres.js';
import { STACK_SCENARIOS } from '../../src/lab/stacks/scenarios.js';
import type { StackId } from '../../src/lab/stacks/types.js';

/**
 * One test per real-stack scenario of `stack`: the service against a real PostgreSQL cluster (one
 * per file), loaded until a fresh client fails, investigated locally; the root cause, the chain and
 * the symptom must be the scenario's, and no claim of the report may lack a measured fact.
 * `check` adds the scenario's own assertions on the report.
 */
export function describeStack(stack: StackId, check: Partial<Record<string, (r: Report) => void>> = {}): void {
  let pg: PostgresCluster;
  beforeAll(async () => {
    pg = await startPostgres({ maxConnections: 300 });
  }, 120_000);
  afterAll(async () => {
    await pg?.stop();
  });
  for (const sc of Object.values(STACK_SCENARIOS).filter((s) => s.stack === stack)) {
    it(`${sc.id}: ${sc.description}`, async () => {
      const lines: string[] = [];
      let report: Report | undefined;
      const [row] = await runEval({
        scenarios: [sc.id],
        settings: loadSettings(undefined, {}),
        signal: new AbortController().signal,
        out: (l) => lines.push(l),
        pg,
        onReport: (_id, r) => (report = r),
      });
      const context = JSON.stringify({ row, lines: lines.slice(-20), caveats: report?.diagnosis.caveats, hypotheses: report?.diagnosis.hypotheses.filter((h) => h.status !== 'refuted') }, null, 1);
      expect(row?.error, context).toBeUndefined();
      expect(sc.expected.symptoms, context).toContain(row?.symptom);
      expect(row?.rootCause, context).toBe(sc.expected.rootCause);
      expect(row?.claimProblems, context).toEqual([]);
      expect(row?.pass, context).toBe(true);
      const dbStats = report?.steps.find((s) => s.id === 'db-stats');
      expect(dbStats?.sources?.length, 'every pool source tried is in the report steps').toBeGreaterThan(0);
      if (report) check[sc.id]?.(report);
    }, 240_000);
  }
}
