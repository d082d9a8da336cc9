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
    // The write-up's deadlock: at the descriptor limit lib/pq cannot dial, and the chain says so.
    'go-pool-deadlock': (r) => {
      expect(r.diagnosis.chain.slice(0, 4)).toEqual(['db-pool-saturation', 'handler-blocked', 'close-wait-pileup', 'fd-exhaustion']);
      expect(r.facts.logs?.signatures.dbConnectEmfile).toBeGreaterThan(0);
      expect(r.diagnosis.links.find((l) => l.feedback)).toMatchObject({ from: 'fd-exhaustion', to: 'db-pool-saturation', verified: true });
    },
    'go-no-stats': (r) => {
      expect(r.facts.pool?.stats).toBeNull();
      expect(JSON.stringify(r.diagnosis)).not.toMatch(/pool is saturated|has room|not the cause/);
    },
  });
});
