/**
 * Lab scenarios: each one is a way to break (or not break) the lab service.
 * The service reads its defaults from here when started with `--scenario ID`; the lab API
 * (lab.ts) fills every option it does not get from the caller from here too.
 * More scenarios (fd-leak, backlog, down, slow-downstream) plug in by adding an entry.
 */

export type ScenarioId = 'db-pool' | 'healthy';

export interface ServiceDefaults {
  /** maximum open DB connections (Go: db.SetMaxOpenConns) */
  poolMax: number;
  /** how long one "query" holds a pool connection, in ms */
  queryMs: number;
  /** RLIMIT_NOFILE (soft = hard) the service runs with */
  nofile: number;
}

export interface LoadDefaults {
  /** new connections (one request each) per second */
  rps: number;
  /** the client hangs up when this passes without a full response */
  clientTimeoutMs: number;
}

export interface Scenario {
  id: ScenarioId;
  description: string;
  /** true when the scenario is meant to reproduce a failure (waitForFailure applies) */
  breaks: boolean;
  service: ServiceDefaults;
  load: LoadDefaults;
}

export const SCENARIOS: Record<ScenarioId, Scenario> = {
  'db-pool': {
    id: 'db-pool',
    description:
      'DB pool too small for the traffic: handlers queue for a connection, clients time out and hang up, ' +
      'sockets pile up in CLOSE_WAIT until descriptors run out, then new connections are reset',
    breaks: true,
    // 2 connections x 5 queries/s = 10 req/s of capacity against 40 req/s of load:
    // the queue grows by ~30/s, so 128 descriptors are gone in ~4 s.
    service: { poolMax: 2, queryMs: 200, nofile: 128 },
    load: { rps: 40, clientTimeoutMs: 1000 },
  },
  healthy: {
    id: 'healthy',
    description: 'pool big enough, fast queries, light load: every request answers 200 quickly',
    breaks: false,
    service: { poolMax: 20, queryMs: 5, nofile: 1024 },
    load: { rps: 5, clientTimeoutMs: 1000 },
  },
};

export const SCENARIO_IDS = Object.keys(SCENARIOS) as ScenarioId[];

export function isScenarioId(s: string): s is ScenarioId {
  return Object.prototype.hasOwnProperty.call(SCENARIOS, s);
}

export function getScenario(id: string): Scenario {
  if (!isScenarioId(id)) {
    throw new Error(`unknown lab scenario "${id}" (known: ${SCENARIO_IDS.join(', ')})`);
  }
  return SCENARIOS[id];
}
