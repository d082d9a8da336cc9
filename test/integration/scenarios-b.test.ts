import { describe, expect, it } from 'vitest';
import { expectScenarioDiagnosed } from './scenarios.js';

describe('each lab scenario is diagnosed with its root cause and chain (b)', () => {
  it('down', () => expectScenarioDiagnosed('down'));
  it('slow-downstream: handlers blocked, the DB pool ruled out', async () => {
    const r = await expectScenarioDiagnosed('slow-downstream');
    expect(r.diagnosis.ruledOut.find((x) => x.id === 'db-pool-saturation')?.reason).toMatch(/pool has room/);
    expect(r.diagnosis.rootCause?.confidence).toBeLessThanOrEqual(0.6);
    expect(r.diagnosis.rootCause?.summary).toMatch(/DB pool is not the cause/);
  });
  it('healthy: no fault found', () => expectScenarioDiagnosed('healthy'));
});
