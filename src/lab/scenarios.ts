/**
 * Lab scenarios: each one is a way to break (or not break) the lab service, and what the bot
 * should conclude about it. The service reads its behaviour from here when started with
 * `--scenario ID`; the lab API (lab.ts) fills every option it does not get from the caller from
 * here too; `triage eval` and the scenario tests check the diagnosis against `expected`.
 */
import type { SymptomKind } from '../core/facts.js';

export type ScenarioId = 'db-pool' | 'fd-leak' | 'backlog' | 'down' | 'slow-downstream' | 'healthy';

/** What a request handler does. */
export type Behaviour =
  /** one query through the DB pool, which has no acquisition time-out (Go's default) */
  | 'db'
  /** opens a file for every request and never closes it, then a fast query */
  | 'fd-leak'
  /** blocks the event loop for `busyMs` per request: the process accepts slower than clients come */
  | 'busy'
  /** exits at start-up with a fatal error, before it listens */
  | 'crash'
  /** calls an upstream HTTP service with no time-out; the upstream is slow */
  | 'upstream';

/** How the lab knows the failure is reproduced. */
export type FailureSign = 'fd-exhaustion' | 'accept-queue-full' | 'refused' | null;

export interface ServiceDefaults {
  behaviour: Behaviour;
  /** maximum open DB connections (Go: db.SetMaxOpenConns) */
  poolMax: number;
  /** how long one "query" holds a pool connection, in ms */
  queryMs: number;
  /** RLIMIT_NOFILE (soft = hard) the service runs with */
  nofile: number;
  /** listen(2) backlog */
  backlog: number;
  /** `busy`: event-loop time per request, ms */
  busyMs: number;
  /** `upstream`: how long the upstream takes to answer, ms */
  upstreamDelayMs: number;
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
  failure: FailureSign;
  service: ServiceDefaults;
  load: LoadDefaults;
  /**
   * What the bot must conclude: the root cause and the chain up to the symptom, which must be one
   * of `symptoms` (some failures show either way, depending on timing) and ends the chain.
   */
  expected: { symptoms: SymptomKind[]; rootCause: string; chain: string[] };
}

const BASE: ServiceDefaults = { behaviour: 'db', poolMax: 20, queryMs: 5, nofile: 1024, backlog: 511, busyMs: 0, upstreamDelayMs: 0 };

export const SCENARIOS: Record<ScenarioId, Scenario> = {
  'db-pool': {
    id: 'db-pool',
    description:
      'DB pool too small for the traffic: handlers queue for a connection, clients time out and hang up, ' +
      'sockets pile up in CLOSE_WAIT until descriptors run out, then new connections are reset',
    breaks: true,
    failure: 'fd-exhaustion',
    // 2 connections x 5 queries/s = 10 req/s of capacity against 40 req/s of load:
    // the queue grows by ~30/s, so 128 descriptors are gone in ~4 s.
    service: { ...BASE, poolMax: 2, queryMs: 200, nofile: 128 },
    load: { rps: 40, clientTimeoutMs: 1000 },
    expected: { symptoms: ['reset'], rootCause: 'db-pool-saturation', chain: ['db-pool-saturation', 'handler-blocked', 'close-wait-pileup', 'fd-exhaustion'] },
  },
  'fd-leak': {
    id: 'fd-leak',
    description:
      'every request opens a template file and never closes it: descriptors climb to the limit, ' +
      'then requests fail with "too many open files" (HTTP 500) or are reset',
    breaks: true,
    failure: 'fd-exhaustion',
    service: { ...BASE, behaviour: 'fd-leak', nofile: 128 },
    load: { rps: 20, clientTimeoutMs: 1000 },
    // At the limit the last descriptor cycles: accepted requests fail to open their file (HTTP 500),
    // the rest are reset; which one a probe meets depends on timing.
    expected: { symptoms: ['http-error', 'reset'], rootCause: 'fd-leak', chain: ['fd-leak', 'fd-exhaustion'] },
  },
  backlog: {
    id: 'backlog',
    description: 'the process accepts slower than clients arrive (100 ms of blocking work per request, backlog 8): the accept queue is full and SYNs are dropped',
    breaks: true,
    failure: 'accept-queue-full',
    service: { ...BASE, behaviour: 'busy', backlog: 8, busyMs: 100 },
    load: { rps: 40, clientTimeoutMs: 1000 },
    // A probe whose SYN is dropped times out connecting; one that got into the queue waits there for
    // an answer: which one depends on timing (RUNBOOK's probe table names both).
    expected: { symptoms: ['connect-timeout', 'read-timeout'], rootCause: 'listen-backlog-overflow', chain: ['listen-backlog-overflow'] },
  },
  down: {
    id: 'down',
    description: 'the service exits at start-up with a fatal configuration error: nothing listens, connections are refused',
    breaks: true,
    failure: 'refused',
    service: { ...BASE, behaviour: 'crash' },
    load: { rps: 0, clientTimeoutMs: 1000 },
    expected: { symptoms: ['refused'], rootCause: 'process-down', chain: ['process-down'] },
  },
  'slow-downstream': {
    id: 'slow-downstream',
    description:
      'handlers call an upstream HTTP service that takes 20 s, with no time-out; the DB pool is idle: ' +
      'CLOSE_WAIT piles up, descriptors run out, new connections are reset',
    breaks: true,
    failure: 'fd-exhaustion',
    service: { ...BASE, behaviour: 'upstream', nofile: 128, upstreamDelayMs: 20_000 },
    load: { rps: 40, clientTimeoutMs: 1000 },
    expected: { symptoms: ['reset'], rootCause: 'handler-blocked', chain: ['handler-blocked', 'close-wait-pileup', 'fd-exhaustion'] },
  },
  healthy: {
    id: 'healthy',
    description: 'pool big enough, fast queries, light load: every request answers 200 quickly',
    breaks: false,
    failure: null,
    service: { ...BASE },
    load: { rps: 5, clientTimeoutMs: 1000 },
    expected: { symptoms: ['ok'], rootCause: 'no-fault-found', chain: [] },
  },
};

/** The chain the bot must state when it observed `symptom`: the scenario's chain, ending at the symptom. */
export function expectedChain(sc: { expected: { chain: readonly string[] } }, symptom: string): string[] {
  return symptom === 'ok' ? [] : [...sc.expected.chain, symptom];
}

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
