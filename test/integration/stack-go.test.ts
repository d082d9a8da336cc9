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
    // The write-up's deadlock. Whether a redial loses the race for a freed descriptor to the accept
    // loop is up to the scheduler: when the logs show lib/pq failing to dial, the chain must link
    // the descriptors back to the pool; when they do not, it must not claim it.
    'go-pool-deadlock': (r) => {
      expect(r.diagnosis.chain.slice(0, 4)).toEqual(['db-pool-saturation', 'handler-blocked', 'close-wait-pileup', 'fd-exhaustion']);
      const back = r.diagnosis.links.find((l) => l.feedback);
      if ((r.facts.logs?.signatures.dbConnectEmfile ?? 0) > 0) expect(back).toMatchObject({ from: 'fd-exhaustion', to: 'db-pool-saturation', verified: true });
      else expect(back).toBeUndefined();
    },
    'go-no-stats': (r) => {
      expect(r.facts.pool?.stats).toBeNull();
      expect(JSON.stringify(r.diagnosis)).not.toMatch(/pool is saturated|has room|not the cause/);
    },
  });
});
