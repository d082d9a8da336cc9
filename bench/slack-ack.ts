// Benchmark 5: how fast `triage serve` acks Slack (HTTP mode, Bolt) while the alert storm of
// benchmark 4 runs. Signed `app_mention` events and `/triage` slash commands go to /slack/events,
// each on a fresh connection like Slack's, paced at 40/s while 20,000 alerts arrive at 2,000/s from
// the load generator's own process; the ack time is from the request's first byte to the end of
// the response. The Web API behind the bot is the repo's Slack emulator.

import { randomBytes } from 'node:crypto';
import { median, quantile, type BenchResult } from './result.js';
import { checkIncidents, loadNote, loadNow, round, runStorm, sleep, startStormService, STORM, stormPorts } from './svc-common.js';
import { onCleanup } from './lib-env.js';
import { startSlackEmulator } from '../test/helpers/slack-emulator.js';
import { sendCommand, sendEvent, type SlackResponse } from '../test/helpers/slack-signing.js';

const GOAL_P99_MS = 100;
const STORM_RATE = 2000;
/** Slack requests per second during the storm, alternating mentions and slash commands. */
const SLACK_RATE = 40;
const CHANNEL = 'C0BENCH01';
const BOT = 'U0TRIAGE';

interface RunOutcome {
  acks: number[];
  mentions: number[];
  commands: number[];
  failures: string[];
  stormAlertsPerS: number;
  stormOk: boolean;
  stormProblem?: string;
  replies: number;
}

async function once(): Promise<RunOutcome> {
  const emu = await startSlackEmulator({ botUserId: BOT });
  const stopEmu = onCleanup(() => emu.stop());
  const secret = randomBytes(16).toString('hex');
  let svc: Awaited<ReturnType<typeof startStormService>> | undefined;
  try {
    svc = await startStormService('slack-ack', { botToken: emu.botToken, signingSecret: secret, apiUrl: emu.apiUrl });
    const events = `${svc.serve.url}/slack/events`;
    const ports = stormPorts();
    const storm = runStorm({ url: svc.webhookUrl, token: svc.token, ports, alerts: STORM.alerts, perRequest: STORM.perRequest, concurrency: STORM.concurrency, runId: randomBytes(6).toString('hex'), warmup: STORM.warmup, rate: STORM_RATE });
    let stormDone = false;
    const done = storm.done.finally(() => (stormDone = true));
    await storm.started;

    const mentions: number[] = [];
    const commands: number[] = [];
    const failures: string[] = [];
    const pending: Promise<void>[] = [];
    const t0 = performance.now();
    for (let i = 0; !stormDone; i++) {
      const due = t0 + (i * 1000) / SLACK_RATE;
      if (due > performance.now()) await sleep(due - performance.now());
      if (stormDone) break;
      const isMention = i % 2 === 0;
      pending.push(
        (async () => {
          const start = performance.now();
          let res: SlackResponse;
          try {
            if (isMention) {
              const ts = `${Math.floor(Date.now() / 1000)}.${String(i).padStart(6, '0')}`;
              res = await sendEvent(events, secret, { type: 'app_mention', user: 'U0ONCALL', text: `<@${BOT}> help`, ts, channel: CHANNEL, event_ts: ts }, { botUserId: BOT });
            } else {
              res = await sendCommand(events, secret, { command: '/triage', text: 'runbooks', user_id: 'U0ONCALL', channel_id: CHANNEL });
            }
          } catch (err) {
            failures.push((err as Error).message);
            return;
          }
          const ms = performance.now() - start;
          if (res.status !== 200) failures.push(`HTTP ${res.status} ${res.body.slice(0, 100)}`);
          else (isMention ? mentions : commands).push(ms);
        })(),
      );
    }
    await Promise.all(pending);
    const out = await done;
    const check = await checkIncidents(svc, ports, STORM.warmup + STORM.alerts);
    const all200 = out.statuses['200'] === out.requests;
    const sent = mentions.length + commands.length;
    // Every acked request is answered after the ack with an ephemeral reply (help text, runbooks).
    await emu.waitFor((calls) => calls.filter((c) => c.method === 'chat.postEphemeral').length >= sent, 20_000, `${sent} ephemeral replies`).catch(() => undefined);
    const problem = !all200 ? `storm statuses ${JSON.stringify(out.statuses)}` : check.problem;
    return {
      acks: [...mentions, ...commands],
      mentions,
      commands,
      failures,
      stormAlertsPerS: ((out.statuses['200'] ?? 0) * STORM.perRequest * 1000) / out.wallMs,
      stormOk: all200 && check.ok,
      ...(problem ? { stormProblem: problem } : {}),
      replies: emu.callsTo('chat.postEphemeral').length,
    };
  } finally {
    await svc?.stop();
    await stopEmu();
  }
}

export async function run(opts: { runs: number }): Promise<BenchResult> {
  const runs = Math.max(1, opts.runs);
  const per: RunOutcome[] = [];
  const load0 = loadNow();
  for (let r = 0; r < runs; r++) per.push(await once());
  const load1 = loadNow();
  const m = (f: (o: RunOutcome) => number) => median(per.map(f));
  const p50 = m((o) => quantile(o.acks, 0.5));
  const p99 = m((o) => quantile(o.acks, 0.99));
  const mentionP99 = m((o) => quantile(o.mentions, 0.99));
  const commandP99 = m((o) => quantile(o.commands, 0.99));
  const requests = m((o) => o.acks.length);
  const failures = per.flatMap((o) => o.failures);
  const replies = m((o) => o.replies);
  const stormOk = per.every((o) => o.stormOk);
  const met = failures.length === 0 && p99 < GOAL_P99_MS;
  const notes = [
    `Per run: a fresh \`triage serve\` with Slack in HTTP mode (Bolt's HTTPReceiver on serve's port, signature checked) and the repo's Slack Web API emulator; the storm of alert-storm (${STORM.warmup} warm-up alerts, then ${STORM.alerts} for ${STORM.targets} targets at ${STORM_RATE} alerts/s, from its own process) runs meanwhile.`,
    `Slack requests start once the storm's measured part starts and stop when it ends: ${SLACK_RATE}/s, alternating signed \`app_mention\` events ("@triage help", acked by Bolt before the listener) and \`/triage runbooks\` slash commands (the handler acks first); each a fresh connection; ack time = request start to end of the response. About ${requests} per run.`,
    `After the ack the bot answers each with an ephemeral message through the emulator: median ${replies} replies per run for ${requests} requests.`,
    `p99 of mentions ${round(mentionP99)} ms, of slash commands ${round(commandP99)} ms; storm sustained ${Math.round(m((o) => o.stormAlertsPerS))} alerts/s; storm check (all 200, 20 incidents holding every alert) ${stormOk ? 'passed' : `FAILED: ${per.map((o) => o.stormProblem).filter(Boolean).join(' | ')}`}.`,
    `Per run p50 / p99 ms: ${per.map((o) => `${round(quantile(o.acks, 0.5))} / ${round(quantile(o.acks, 0.99))}`).join('; ')}.`,
    loadNote(load0, load1),
  ];
  const unanswered = per.filter((o) => o.replies < o.acks.length);
  if (unanswered.length) notes.push(`In ${unanswered.length} run(s) the bot sent fewer ephemeral replies than requests it acked (${unanswered.map((o) => `${o.replies} of ${o.acks.length}`).join(', ')}) within 20 s of the storm's end.`);
  if (failures.length) notes.push(`${failures.length} Slack requests failed: ${failures.slice(0, 3).join('; ')}`);
  if (!met) notes.push(`Goal not met: p99 ${round(p99)} ms${failures.length ? ` and ${failures.length} failed requests` : ''} (goal < ${GOAL_P99_MS} ms).`);
  return {
    name: 'slack-ack',
    title: `Slack ack latency during the alert storm (${STORM_RATE} alerts/s)`,
    goal: `p99 < ${GOAL_P99_MS} ms (Slack's limit: 3 s)`,
    met,
    runs,
    figures: {
      p50Ms: round(p50),
      p99Ms: round(p99),
      mentionP99Ms: round(mentionP99),
      commandP99Ms: round(commandP99),
      requestsPerRun: requests,
      failed: failures.length,
      stormAlertsPerS: Math.round(m((o) => o.stormAlertsPerS)),
    },
    summary: `ack p50 ${round(p50)} ms, p99 ${round(p99)} ms over ~${requests} signed requests per run during ${STORM_RATE} alerts/s${failures.length ? `, ${failures.length} failed` : ''}`,
    notes,
  };
}
