import { describe, it } from 'vitest';
import { expectScenarioDiagnosed } from './scenarios.js';

describe('each lab scenario is diagnosed with its root cause and chain (a)', () => {
  it('db-pool: the write-up', () => expectScenarioDiagnosed('db-pool'));
  it('fd-leak', () => expectScenarioDiagnosed('fd-leak'));
  it('backlog', () => expectScenarioDiagnosed('backlog'));
});
