import { describe, expect } from 'vitest';
import { describeStack } from '../helpers/stack-eval.js';

describe('real stack: Go net/http + database/sql + lib/pq against PostgreSQL', () => {
  describeStack('go', {
    'go-pool-prometheus': (r) => expect(r.facts.pool?.stats).toMatchObject({ format: 'go_sql', maxOpen: 2 }),
    'go-pool-expvar': (r) => expect(r.facts.pool?.stats?.source).toMatch(/\/debug\/vars$/),
    'go-pool-log-plusv': (r) => expect(r.facts.pool?.stats).toMatchObject({ source: expect.stringMatching(/^log:/), maxOpen: 2 }),
    'go-pool-log-v': (r) => expect(r.facts.pool?.stats).toMatchObject({ source: expect.stringMatching(/^log:/), maxOpen: 2 }),
    'go-pool-logfmt': (r) => expect(r.facts.pool?.stats).toMatchObject({ source: expect.stringMatching(/^log:/), maxOpen: 2 }),
    'go-pool-json': (r) => expect(r.facts.pool?.stats).toMatchObject({ source: expect.stringMatching(/^log:/), maxOpen: 2 }),
    'go-no-stats': (r) => {
      expect(r.facts.pool?.stats).toBeNull();
      expect(JSON.stringify(r.diagnosis)).not.toMatch(/pool is saturated|has room|not the cause/);
    },
  });
});
