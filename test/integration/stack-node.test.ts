import { describe, expect } from 'vitest';
import { describeStack } from '../helpers/stack-eval.js';

describe('real stack: Node http + pg.Pool against PostgreSQL', () => {
  describeStack('node', {
    'node-pool-exporter': (r) => expect(r.facts.pool?.stats).toMatchObject({ format: 'node-postgres', maxOpen: 2, inUse: 2 }),
    'node-pool-prom-client': (r) => expect(r.facts.pool?.stats?.waiting).toBeGreaterThan(0),
    'node-no-stats': (r) => expect(JSON.stringify(r.diagnosis)).not.toMatch(/pool is saturated|has room|not the cause/),
    'node-fd-leak': (r) => {
      expect(r.diagnosis.rootCause?.summary).toMatch(/\d+× \S*\/spool\/report-\*\.json \(\d+ files\)/);
    },
  });
});
