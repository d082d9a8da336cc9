import { expect } from 'vitest';
import { loadSettings } from '../../src/config.js';
import { investigate } from '../../src/engine/investigate.js';
import type { Report } from '../../src/engine/report.js';
import { checkClaims } from '../../src/lab/claims.js';
import { startLab } from '../../src/lab/lab.js';
import { DEFAULT_THRESHOLDS } from '../../src/runbooks/connreset-rules.js';
import { expectedChain, getScenario, type ScenarioId } from '../../src/lab/scenarios.js';
import { connreset } from '../../src/runbooks/connreset.js';
import { freePort } from '../helpers/ports.js';

/**
 * Shared by the scenario test files: a fresh lab of `id`, reproduced, investigated locally; the
 * diagnosis must be the scenario's expected root cause and chain, every link backed by a fact.
 */
export async function expectScenarioDiagnosed(id: ScenarioId): Promise<Report> {
  const sc = getScenario(id);
  const port = await freePort();
  const lab = await startLab({ scenario: id, port });
  try {
    if (sc.breaks) await lab.waitForFailure(60_000);
    else await lab.waitReady(15_000);
    const base = loadSettings(undefined, {});
    const settings = { ...base, config: { ...base.config, investigation: { ...base.config.investigation, probePath: '/xx/checkalive', probeAttempts: 10 } } };
    const r = await investigate({ runbook: connreset, target: { host: '127.0.0.1', port }, settings, local: true, intervalMs: 1000 });
    const d = r.diagnosis;
    const context = `${id}: ${JSON.stringify({ symptom: r.symptom, root: d.rootCause, chain: d.chain, caveats: d.caveats, hypotheses: d.hypotheses.filter((h) => h.status === 'supported') })}`;
    expect(sc.expected.symptoms, context).toContain(r.symptom.kind);
    expect(d.rootCause?.id, context).toBe(sc.expected.rootCause);
    expect(d.chain, context).toEqual(expectedChain(sc, r.symptom.kind ?? '-'));
    expect(d.links.filter((l) => !l.verified), context).toEqual([]);
    expect(checkClaims(r, Object.values(DEFAULT_THRESHOLDS)), context).toEqual([]);
    expect(d.rootCause?.summary.length).toBeGreaterThan(40);
    expect(r.recommendations.length).toBeGreaterThan(0);
    return r;
  } finally {
    await lab.stop();
  }
}
