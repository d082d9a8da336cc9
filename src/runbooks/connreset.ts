import { diagnose } from '../engine/diagnosis.js';
import { defineRunbook } from '../engine/runbook.js';
import { recommend } from './connreset-advice.js';
import { CONNRESET_RULES, ThresholdsSchema } from './connreset-rules.js';
import { dbStatsStep } from '../steps/db-stats.js';
import { fdsStep } from '../steps/fds.js';
import { historyStep } from '../steps/history.js';
import { kernelCountersStep } from '../steps/kernel-counters.js';
import { logsStep } from '../steps/logs.js';
import { probeHttpStep } from '../steps/probe-http.js';
import { processStep } from '../steps/process.js';
import { tcpStatesStep } from '../steps/tcp-states.js';

/**
 * `connection reset by peer` from a few instances (seed/RUNBOOK.md): reproduce, find the process,
 * count descriptors against the limit, look at TCP states and the accept queue, read the kernel
 * counters, the logs and the DB pool statistics.
 */
export const connreset = defineRunbook({
  id: 'connreset',
  title: 'connection reset by peer',
  description: 'clients get `connection reset by peer` from some instances of a service',
  steps: [probeHttpStep, processStep, fdsStep, tcpStatesStep, kernelCountersStep, logsStep, dbStatsStep, historyStep],
  buildInput(ctx, _step, facts) {
    return {
      ...ctx,
      pid: facts.process?.pid,
      httpTimeoutMs: ctx.probeTimeoutMs,
      logLines: (facts.logs?.files ?? []).map((f) => ({ path: f.path, lines: f.tail })),
    };
  },
  diagnose(facts, steps, overrides) {
    return diagnose(CONNRESET_RULES, facts, steps, ThresholdsSchema.parse(overrides), { noFault: 'no-fault-found' });
  },
  recommend,
});
