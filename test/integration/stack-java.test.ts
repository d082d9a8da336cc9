import { describe, expect } from 'vitest';
import { describeStack } from '../helpers/stack-eval.js';

describe('real stack: Java HttpServer (16 workers) + HikariCP + PostgreSQL JDBC', () => {
  describeStack('java', {
    // /actuator/prometheus is served by the blocked workers: the report says so instead of guessing.
    'java-pool-actuator': (r) => {
      expect(r.steps.find((s) => s.id === 'db-stats')?.sources?.map((s) => s.source).join()).toContain('/actuator/prometheus');
      expect(r.findings.find((f) => f.id === 'metrics-silent')?.title).toMatch(/actuator\/prometheus.* did not answer in time/);
      expect(r.diagnosis.rootCause?.summary).toMatch(/did not answer in time: an endpoint served by the same blocked workers goes silent/);
    },
    'java-pool-log': (r) => expect(r.facts.pool?.stats).toMatchObject({ format: 'hikaricp', maxOpen: null, waiting: expect.any(Number) }),
    'java-healthy': (r) => expect(r.facts.pool?.stats).toMatchObject({ format: 'hikaricp', maxOpen: 10 }),
  });
});
