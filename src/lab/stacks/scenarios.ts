/**
 * Real-stack scenarios: a service written the way its community writes it (Go database/sql + lib/pq,
 * Java HikariCP, Node pg.Pool), against a real PostgreSQL, loaded by clients that give up after 1 s,
 * and what the bot must conclude. Exporters, endpoints and log formats vary across them, and some
 * publish no pool statistics at all: there the bot must not blame the pool.
 */
import type { SymptomKind } from '../../core/facts.js';
import type { PoolExport, StackBehaviour, StackId } from './types.js';

export interface StackScenario {
  id: string;
  stack: StackId;
  description: string;
  /** true when the load is meant to break it (the lab waits for a fresh client to fail) */
  breaks: boolean;
  service: { behaviour: StackBehaviour; poolExport: PoolExport; poolMax: number; queryMs: number; nofile: number; queryContext?: 'request' | 'none'; connMaxLifetimeMs?: number };
  load: { rps: number; clientTimeoutMs: number };
  /**
   * Once the failure is reproduced, PostgreSQL terminates the service's connections (a failover, an
   * idle-session time-out, an operator's pg_terminate_backend): the pool must dial again.
   */
  terminateDbConnections?: boolean;
  /** the root cause and the chain up to the symptom, which must be one of `symptoms` */
  expected: { symptoms: SymptomKind[]; rootCause: string; chain: string[] };
}

/** The write-up's incident: 2 connections, 200 ms queries, 40 new clients a second that give up after 1 s. */
const SATURATED = { behaviour: 'db' as const, poolMax: 2, queryMs: 200 };
const HEALTHY = { behaviour: 'db' as const, poolMax: 10, queryMs: 5, nofile: 1024 };
const LOAD = { rps: 40, clientTimeoutMs: 1000 };
const LIGHT = { rps: 5, clientTimeoutMs: 1000 };
const OK = { symptoms: ['ok' as const], rootCause: 'no-fault-found', chain: [] };
/** A client that gave up leaves no CLOSE_WAIT behind (Go cancels the request's context, Node's server closes): requests time out. */
const POOL_TIMES_OUT = { symptoms: ['read-timeout' as const], rootCause: 'db-pool-saturation', chain: ['db-pool-saturation', 'handler-blocked'] };
/** Without pool statistics the answer stops at the blocked handlers. */
const BLOCKED = { symptoms: ['read-timeout' as const], rootCause: 'handler-blocked', chain: ['handler-blocked'] };

const list: StackScenario[] = [
  { id: 'go-pool-prometheus', stack: 'go', description: 'Go, pool too small; client_golang DBStats collector on /metrics', breaks: true, service: { ...SATURATED, poolExport: 'go-prometheus', nofile: 1024 }, load: LOAD, expected: POOL_TIMES_OUT },
  { id: 'go-pool-expvar', stack: 'go', description: 'Go, pool too small; db.Stats() published with expvar on /debug/vars', breaks: true, service: { ...SATURATED, poolExport: 'go-expvar', nofile: 1024 }, load: LOAD, expected: POOL_TIMES_OUT },
  { id: 'go-pool-log-plusv', stack: 'go', description: 'Go, pool too small; log.Printf("db stats: %+v", db.Stats()) under the standard log prefix', breaks: true, service: { ...SATURATED, poolExport: 'go-log-plusv', nofile: 1024 }, load: LOAD, expected: POOL_TIMES_OUT },
  { id: 'go-pool-log-v', stack: 'go', description: 'Go, pool too small; log.Printf("db stats: %v", db.Stats()) with microseconds', breaks: true, service: { ...SATURATED, poolExport: 'go-log-v', nofile: 1024 }, load: LOAD, expected: POOL_TIMES_OUT },
  { id: 'go-pool-logfmt', stack: 'go', description: 'Go, pool too small; DBStats as logfmt fields', breaks: true, service: { ...SATURATED, poolExport: 'go-logfmt', nofile: 1024 }, load: LOAD, expected: POOL_TIMES_OUT },
  { id: 'go-pool-json', stack: 'go', description: 'Go, pool too small; DBStats in JSON log lines', breaks: true, service: { ...SATURATED, poolExport: 'go-json', nofile: 1024 }, load: LOAD, expected: POOL_TIMES_OUT },
  {
    id: 'go-pool-deadlock',
    stack: 'go',
    description:
      "the write-up's incident on Go: queries without the request's context (db.Exec style), so handlers keep waiting after their clients leave; CLOSE_WAIT piles up to the descriptor limit; when PostgreSQL then drops the service's connections, the pool cannot dial again",
    breaks: true,
    service: { ...SATURATED, poolExport: 'go-log-plusv', nofile: 128, queryContext: 'none' },
    load: LOAD,
    terminateDbConnections: true,
    expected: { symptoms: ['reset', 'read-timeout', 'connect-timeout'], rootCause: 'db-pool-saturation', chain: ['db-pool-saturation', 'handler-blocked', 'close-wait-pileup', 'fd-exhaustion'] },
  },
  { id: 'go-no-stats', stack: 'go', description: 'Go, pool too small, no pool statistics anywhere: the pool must not be blamed', breaks: true, service: { ...SATURATED, poolExport: 'none', nofile: 1024 }, load: LOAD, expected: BLOCKED },
  { id: 'go-healthy', stack: 'go', description: 'Go, pool big enough, light load; DBStats collector on /metrics', breaks: false, service: { ...HEALTHY, poolExport: 'go-prometheus' }, load: LIGHT, expected: OK },
  {
    id: 'java-pool-actuator',
    stack: 'java',
    description: 'Java HikariCP, pool too small; /actuator/prometheus is served by the same 16 blocked workers and goes silent: the pool is not measured, and the report says why',
    breaks: true,
    service: { ...SATURATED, poolExport: 'java-actuator', nofile: 4096 },
    load: LOAD,
    expected: BLOCKED,
  },
  { id: 'java-pool-log', stack: 'java', description: "Java HikariCP, pool too small; HikariCP's own DEBUG pool-stats lines", breaks: true, service: { ...SATURATED, poolExport: 'java-log', nofile: 4096 }, load: LOAD, expected: POOL_TIMES_OUT },
  { id: 'java-healthy', stack: 'java', description: 'Java HikariCP, pool big enough, light load; /actuator/prometheus', breaks: false, service: { ...HEALTHY, poolExport: 'java-actuator' }, load: LIGHT, expected: OK },
  { id: 'node-pool-exporter', stack: 'node', description: 'Node pg.Pool, pool too small; @christiangalsterer/node-postgres-prometheus-exporter on /metrics', breaks: true, service: { ...SATURATED, poolExport: 'node-exporter', nofile: 1024 }, load: LOAD, expected: POOL_TIMES_OUT },
  { id: 'node-pool-prom-client', stack: 'node', description: 'Node pg.Pool, pool too small; prom-client gauges of totalCount/idleCount/waitingCount', breaks: true, service: { ...SATURATED, poolExport: 'node-prom-client', nofile: 1024 }, load: LOAD, expected: POOL_TIMES_OUT },
  { id: 'node-no-stats', stack: 'node', description: 'Node pg.Pool, pool too small, no pool statistics: the pool must not be blamed', breaks: true, service: { ...SATURATED, poolExport: 'none', nofile: 1024 }, load: LOAD, expected: BLOCKED },
  // At the limit a request that was accepted fails to open its file (HTTP 500) and libuv's EMFILE
  // handling resets the ones it cannot accept: which one a probe meets depends on timing.
  { id: 'node-fd-leak', stack: 'node', description: 'Node, every request opens a spool file and never closes it; prom-client pool gauges', breaks: true, service: { behaviour: 'fd-leak', poolExport: 'node-prom-client', poolMax: 10, queryMs: 5, nofile: 256 }, load: { rps: 20, clientTimeoutMs: 1000 }, expected: { symptoms: ['http-error', 'reset'], rootCause: 'fd-leak', chain: ['fd-leak', 'fd-exhaustion'] } },
  { id: 'node-healthy', stack: 'node', description: 'Node pg.Pool, pool big enough, light load; npm exporter on /metrics', breaks: false, service: { ...HEALTHY, poolExport: 'node-exporter' }, load: LIGHT, expected: OK },
];

export const STACK_SCENARIOS: Readonly<Record<string, StackScenario>> = Object.fromEntries(list.map((s) => [s.id, s]));
export const STACK_SCENARIO_IDS = list.map((s) => s.id);

export function isStackScenarioId(id: string): boolean {
  return Object.prototype.hasOwnProperty.call(STACK_SCENARIOS, id);
}

export function getStackScenario(id: string): StackScenario {
  const sc = STACK_SCENARIOS[id];
  if (!sc) throw new Error(`unknown real-stack scenario "${id}" (known: ${STACK_SCENARIO_IDS.join(', ')})`);
  return sc;
}
