// Benchmark 4: an alert storm on `triage serve`'s Alertmanager webhook. 20,000 alerts for 20
// targets, 10 alerts per request (one Alertmanager group per target), at most 20 requests in flight
// from a load generator in its own process; then the check that exactly 20 incidents exist and
// hold all 20,000 alerts. Two phases per run, each on a fresh serve and Redis prefix:
//   saturation: as fast as serve answers (closed loop) — the most alerts/s it accepts;
//   paced: 2,000 alerts/s offered (the goal rate, open loop) — response times at that rate.

import { randomBytes } from 'node:crypto';
import { median, quantile, type BenchResult } from './result.js';
import { checkIncidents, loadNote, loadNow, round, runStorm, startStormService, STORM, stormPorts, type StormOutcome } from './svc-common.js';

const GOAL_ALERTS_PER_S = 2000;
const GOAL_P99_MS = 50;

interface Phase {
  alertsPerS: number;
  requestsPerS: number;
  p50: number;
  p99: number;
  max: number;
  ok: boolean;
  problem?: string;
}

/** One storm on a fresh serve, checked: all 200, 20 incidents holding every alert. */
async function storm(rate?: number): Promise<Phase> {
  const ports = stormPorts();
  const svc = await startStormService('storm');
  try {
    const out: StormOutcome = await runStorm({
      url: svc.webhookUrl,
      token: svc.token,
      ports,
      alerts: STORM.alerts,
      perRequest: STORM.perRequest,
      concurrency: STORM.concurrency,
      runId: randomBytes(6).toString('hex'),
      warmup: STORM.warmup,
      ...(rate !== undefined ? { rate } : {}),
    }).done;
    const check = await checkIncidents(svc, ports, STORM.warmup + STORM.alerts);
    const all200 = out.statuses['200'] === out.requests;
    const problem = !all200 ? `statuses ${JSON.stringify(out.statuses)}: ${out.errors.join('; ')}` : check.problem;
    return {
      alertsPerS: ((out.statuses['200'] ?? 0) * STORM.perRequest * 1000) / out.wallMs,
      requestsPerS: ((out.statuses['200'] ?? 0) * 1000) / out.wallMs,
      p50: quantile(out.latenciesMs, 0.5),
      p99: quantile(out.latenciesMs, 0.99),
      max: Math.max(...out.latenciesMs),
      ok: all200 && check.ok,
      ...(problem ? { problem } : {}),
    };
  } finally {
    await svc.stop();
  }
}

export async function run(opts: { runs: number }): Promise<BenchResult> {
  const runs = Math.max(1, opts.runs);
  const sat: Phase[] = [];
  const paced: Phase[] = [];
  const load0 = loadNow();
  for (let r = 0; r < runs; r++) {
    sat.push(await storm());
    paced.push(await storm(GOAL_ALERTS_PER_S));
  }
  const load1 = loadNow();
  const m = (xs: Phase[], f: (p: Phase) => number) => median(xs.map(f));
  const maxAlertsPerS = m(sat, (x) => x.alertsPerS);
  const pacedAlertsPerS = m(paced, (x) => x.alertsPerS);
  const pacedP50 = m(paced, (x) => x.p50);
  const pacedP99 = m(paced, (x) => x.p99);
  const satP50 = m(sat, (x) => x.p50);
  const satP99 = m(sat, (x) => x.p99);
  const failed = [...sat, ...paced].filter((x) => !x.ok);
  const allOk = failed.length === 0;
  const met = allOk && maxAlertsPerS >= GOAL_ALERTS_PER_S && pacedAlertsPerS >= GOAL_ALERTS_PER_S * 0.98 && pacedP99 < GOAL_P99_MS;
  const notes = [
    `${STORM.alerts} alerts for ${STORM.targets} targets per phase, ${STORM.perRequest} alerts per webhook request (one Alertmanager group per target) = ${STORM.alerts / STORM.perRequest} requests, at most ${STORM.concurrency} in flight on keep-alive connections (one per target group), from a load generator in its own process on loopback. Every alert has its own labels and fingerprint.`,
    `Saturation phase (closed loop, next request as soon as one is answered): the most alerts/s serve accepts; its response times are queueing at full load: p50 ${round(satP50)} ms, p99 ${round(satP99)} ms.`,
    `Paced phase (open loop): ${GOAL_ALERTS_PER_S} alerts/s offered (${GOAL_ALERTS_PER_S / STORM.perRequest} requests/s) for ${STORM.alerts / GOAL_ALERTS_PER_S} s; each response time counted from when its request was due, so a server falling behind would show. The goal's p99 is this phase's.`,
    'alerts/s = alerts in requests answered 200 / wall time from the first request to the last response; response time = until the end of the response body.',
    `Each phase: a fresh \`triage serve\` (log level warn) and Redis prefix on the real Redis at 127.0.0.1:6379; no worker runs, so the queued investigations never start and the targets need not exist. Generator, serve and Redis share the machine's ${'2'} cores.`,
    `Before each phase, ${STORM.warmup} alerts (same targets, own fingerprints) are sent and not measured: a running serve is past its JIT and Redis script loading.`,
    `Check after every phase: every request answered 200, exactly ${STORM.targets} incidents (one per target) holding all ${STORM.warmup + STORM.alerts} alerts — ${allOk ? 'passed every time' : `FAILED: ${failed.map((x) => x.problem).join(' | ')}`}.`,
    `Per run, saturation alerts/s / p99 ms: ${sat.map((x) => `${Math.round(x.alertsPerS)} / ${round(x.p99)}`).join('; ')}; paced p50 / p99 ms: ${paced.map((x) => `${round(x.p50)} / ${round(x.p99)}`).join('; ')}.`,
    loadNote(load0, load1),
    'Fixed in src/ for this benchmark: openOrJoin answered the whole incident, reading back every alert joined so far, so each alert cost O(alerts already joined) — 1,427 alerts/s with p99 218 ms (closed loop, 16 in flight) before, ~9,000 alerts/s after; its script now also returns the incident hash itself (one Redis round trip per alert fewer).',
  ];
  if (!met) {
    const gaps: string[] = [];
    if (maxAlertsPerS < GOAL_ALERTS_PER_S) gaps.push(`throughput ${Math.round(maxAlertsPerS)} alerts/s is below the ${GOAL_ALERTS_PER_S} goal`);
    if (pacedAlertsPerS < GOAL_ALERTS_PER_S * 0.98) gaps.push(`only ${Math.round(pacedAlertsPerS)} alerts/s sustained at the paced rate`);
    if (pacedP99 >= GOAL_P99_MS) gaps.push(`p99 ${round(pacedP99)} ms at ${GOAL_ALERTS_PER_S} alerts/s is not under ${GOAL_P99_MS} ms`);
    if (!allOk) gaps.push('the incident check failed');
    notes.push(`Goal not met: ${gaps.join('; ')}.`);
  }
  return {
    name: 'alert-storm',
    title: `Alert storm: ${STORM.alerts.toLocaleString('en-US')} Alertmanager alerts for ${STORM.targets} targets on the webhook`,
    goal: `>= ${GOAL_ALERTS_PER_S} alerts/s, p99 < ${GOAL_P99_MS} ms, exactly ${STORM.targets} incidents`,
    met,
    runs,
    figures: {
      maxAlertsPerS: Math.round(maxAlertsPerS),
      maxRequestsPerS: Math.round(m(sat, (x) => x.requestsPerS)),
      saturationP50Ms: round(satP50),
      saturationP99Ms: round(satP99),
      pacedAlertsPerS: Math.round(pacedAlertsPerS),
      pacedP50Ms: round(pacedP50),
      pacedP99Ms: round(pacedP99),
      pacedMaxMs: round(m(paced, (x) => x.max)),
      incidents: allOk ? STORM.targets : -1,
    },
    summary: `max ${Math.round(maxAlertsPerS)} alerts/s (${Math.round(m(sat, (x) => x.requestsPerS))} req/s, p99 ${round(satP99)} ms at saturation); at ${GOAL_ALERTS_PER_S} alerts/s p50 ${round(pacedP50)} ms, p99 ${round(pacedP99)} ms; ${allOk ? `${STORM.targets} incidents` : 'incident check FAILED'}`,
    notes,
  };
}
