import { createServer, type Server } from 'node:http';
import { hostname } from 'node:os';
import type { Settings } from '../config.js';
import { InputError, TriageError } from '../core/errors.js';
import { parseTarget } from '../core/target.js';
import { investigate } from '../engine/investigate.js';
import { ACTIONS, createInvestigationQueue, PermanentFailure, startInvestigationWorker } from '../integrations/queue/investigations.js';
import { NodeNet } from '../integrations/net/node-net.js';
import { decide, expireApprovals, proposeActions, runApproved } from './actions.js';
import { RedisIncidentStore } from '../integrations/store/redis.js';
import { event, type IncidentStore } from '../integrations/store/store.js';
import { createLogger, type Logger } from '../log.js';
import { getRunbook } from '../runbooks/index.js';
import { Metrics } from './metrics.js';
import { Conversation, describeTarget, ThreadReporter } from '../integrations/chat/conversation.js';
import { createSlackApp, type SlackApp } from '../integrations/slack/app.js';
import { longEvidence } from '../integrations/slack/blocks.js';
import { SlackChat } from '../integrations/slack/chat.js';
import { createTriageServer } from './serve.js';

/** Errors that a retry cannot fix: the incident fails with the reason at once. */
const PERMANENT = new Set(['input_invalid', 'host_unknown', 'runbook_unknown', 'config_invalid', 'ssh_auth', 'ssh_host_key', 'ssh_connect', 'ssh_timeout']);

function waitForSignal(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
}

/** `triage serve`: the HTTP server until SIGTERM/SIGINT, then a graceful stop within the deadline. */
export async function runServe(settings: Settings, signal: AbortSignal, log: Logger = createLogger(settings.config.log.level, 'triage-serve')): Promise<void> {
  const cfg = settings.config;
  const missing = settings.missingSecrets ?? [];
  if (missing.length) throw new InputError(missing.join('; '), 'config_invalid');
  if (Object.values(cfg.webhooks).every((w) => w === undefined)) log.warn('no webhooks configured: only /healthz and /metrics will answer');
  const store = new RedisIncidentStore(cfg.redis.url, cfg.redis.prefix, (err) => log.warn({ err: err.message }, 'redis'));
  const queue = createInvestigationQueue(cfg.redis.url, cfg.redis.prefix);
  const metrics = new Metrics({
    queueDepth: () => queue.depth(),
    incidentsByStatus: async () => {
      const by: Record<string, number> = {};
      for (const i of await store.list({ limit: 1000 })) by[i.status] = (by[i.status] ?? 0) + 1;
      return by;
    },
  });
  let slackApp: SlackApp | null = null;
  let chat: SlackChat | undefined;
  const actionsQueue = createInvestigationQueue(cfg.redis.url, cfg.redis.prefix, ACTIONS);
  if (cfg.slack) {
    const slack = cfg.slack;
    chat = new SlackChat({ botToken: slack.botToken, ...(slack.apiUrl ? { apiUrl: slack.apiUrl } : {}) });
    const conversation = new Conversation({ settings, store, chat, launch: (inc) => queue.enqueue(inc.id) });
    slackApp = createSlackApp({
      mode: slack.mode,
      botToken: slack.botToken,
      ...(slack.signingSecret ? { signingSecret: slack.signingSecret } : {}),
      ...(slack.appToken ? { appToken: slack.appToken } : {}),
      ...(slack.apiUrl ? { apiUrl: slack.apiUrl } : {}),
      claimEvent: (id) => store.claimOnce(`slack-event:${id}`, 3600),
      onSaid: (said) => conversation.onSaid(said),
      onClick: async (click) => {
        const d = await decide(click, { settings, store, chat: chat as SlackChat, net: new NodeNet(), log });
        if (d.run) await actionsQueue.enqueue(click.hash);
        return d.reply;
      },
      onError: (err, where) => log.error({ err: err.message, where }, 'slack handler failed'),
    });
    await slackApp.start();
    log.info({ mode: slack.mode }, 'slack connected');
  }
  const server = createTriageServer({ settings, store, queue, metrics, log, ...(slackApp?.requestListener ? { slackListener: slackApp.requestListener } : {}), ...(chat ? { chat } : {}) });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(cfg.server.port, cfg.server.host, () => resolve());
  });
  const addr = server.address();
  // Expired approvals lose their buttons even if nobody clicks.
  const sweep = chat
    ? setInterval(() => {
        void expireApprovals({ settings, store, chat: chat as SlackChat, net: new NodeNet(), log }).catch((err: Error) => log.warn({ err: err.message }, 'approval sweep failed'));
      }, cfg.approvals.sweepIntervalMs)
    : null;
  log.info({ address: typeof addr === 'object' && addr ? `${addr.address}:${addr.port}` : addr, redis: cfg.redis.url.replace(/\/\/[^@]*@/, '//[REDACTED]@'), prefix: cfg.redis.prefix }, 'serving');
  await waitForSignal(signal);
  if (sweep) clearInterval(sweep);
  log.info('shutting down');
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  await Promise.race([closed, new Promise((r) => setTimeout(r, cfg.server.shutdownTimeoutMs).unref())]);
  server.closeAllConnections();
  await slackApp?.stop().catch(() => undefined);
  await actionsQueue.close().catch(() => undefined);
  await queue.close().catch(() => undefined);
  await store.close();
}

/** A message the thread did not get: said in the timeline, so the incident shows it. */
async function notifyFailed(store: IncidentStore, log: Logger, incidentId: string, message: string): Promise<void> {
  log.warn({ incident: incidentId }, message);
  await store.append(incidentId, event('notify-failed', message, new Date())).catch(() => undefined);
}

/** One investigation of a stored incident, recorded in its timeline. */
export async function investigateIncident(incidentId: string, attempt: number, deps: { settings: Settings; store: IncidentStore; metrics: Metrics; log: Logger; signal?: AbortSignal }): Promise<void> {
  const { store, settings, log } = deps;
  const inc = await store.get(incidentId);
  if (!inc) throw new PermanentFailure(`incident ${incidentId} not found`);
  if (inc.status === 'diagnosed' || inc.status === 'resolved' || inc.status === 'failed') {
    log.info({ incident: incidentId, status: inc.status }, 'already done; redelivery ignored');
    return;
  }
  const who = `${hostname()}/${process.pid}`;
  const slack = settings.config.slack;
  const reporter =
    inc.thread && slack
      ? new ThreadReporter(new SlackChat({ botToken: slack.botToken, ...(slack.apiUrl ? { apiUrl: slack.apiUrl } : {}) }), inc.thread, `${describeTarget(settings, parseTarget(inc.target))} — runbook ${inc.runbook}`, slack.progressEditIntervalMs, (err) =>
          log.warn({ incident: incidentId, err: err.message }, 'slack update failed'),
        )
      : null;
  await store.update(incidentId, { status: 'investigating' }, event('investigation-started', `attempt ${attempt} on worker ${who}`, new Date(), { worker: who, attempt }));
  try {
    const report = await investigate({
      runbook: getRunbook(inc.runbook),
      target: parseTarget(inc.target),
      settings,
      local: false,
      ...(deps.signal ? { signal: deps.signal } : {}),
      onEvent: (e) => {
        reporter?.onEvent(e);
        if (e.type !== 'step-finished') return;
        deps.metrics.stepDuration.observe({ step: e.step, status: e.outcome.status }, e.outcome.durationMs / 1000);
        void store
          .append(incidentId, event('step-finished', `${e.step} ${e.outcome.status}${e.outcome.error ? `: ${e.outcome.error}` : ''}`, new Date(), { step: e.step, status: e.outcome.status, durationMs: e.outcome.durationMs }))
          .catch(() => undefined);
      },
      onWarning: (m) => log.warn({ incident: incidentId }, m),
    });
    const root = report.diagnosis.rootCause;
    await store.update(incidentId, { status: 'diagnosed', report }, event('diagnosed', root ? `${root.id} (${Math.round(root.confidence * 100)}%): ${report.diagnosis.chain.join(' → ')}` : 'no root cause found', new Date(), { rootCause: root?.id ?? null }));
    deps.metrics.investigations.inc({ outcome: root ? root.id : 'undiagnosed' });
    await reporter?.finish(report, incidentId, longEvidence({ kind: 'findings', step: 'all', findings: report.findings })).catch((err: Error) => notifyFailed(store, log, incidentId, `could not post the diagnosis to Slack (it is kept: @triage incident ${incidentId}): ${err.message}`));
    if (reporter && slack) {
      const diagnosed = await store.get(incidentId);
      const chat = new SlackChat({ botToken: slack.botToken, ...(slack.apiUrl ? { apiUrl: slack.apiUrl } : {}) });
      if (diagnosed) await proposeActions(diagnosed, { settings, store, chat, net: new NodeNet(), log }).catch((err: Error) => log.warn({ incident: incidentId, err: err.message }, 'could not propose actions'));
    }
    log.info({ incident: incidentId, rootCause: root?.id, chain: report.diagnosis.chain }, 'diagnosed');
  } catch (err) {
    if (err instanceof TriageError && PERMANENT.has(err.code)) {
      await reporter?.fail(err.message).catch((e: Error) => notifyFailed(store, log, incidentId, `could not post the failure to Slack: ${e.message}`));
      await store.update(incidentId, { status: 'failed', error: err.message }, event('investigation-failed', err.message, new Date(), { code: err.code }));
      deps.metrics.investigations.inc({ outcome: 'failed' });
      throw new PermanentFailure(err.message);
    }
    // Back to open so a retry (or another worker) picks it up.
    await store.update(incidentId, { status: 'open' }, event('investigation-failed', `attempt ${attempt}: ${(err as Error).message}; will retry`, new Date())).catch(() => undefined);
    throw err;
  }
}

/** `triage worker`: BullMQ workers for investigations until SIGTERM/SIGINT. */
export async function runWorker(settings: Settings, signal: AbortSignal, log: Logger = createLogger(settings.config.log.level, 'triage-worker')): Promise<void> {
  const cfg = settings.config;
  const store = new RedisIncidentStore(cfg.redis.url, cfg.redis.prefix, (err) => log.warn({ err: err.message }, 'redis'));
  const metrics = new Metrics();
  const runs = new AbortController();
  const worker = startInvestigationWorker({
    redisUrl: cfg.redis.url,
    prefix: cfg.redis.prefix,
    concurrency: cfg.worker.concurrency,
    lockDurationMs: cfg.worker.lockDurationMs,
    stalledIntervalMs: cfg.worker.stalledIntervalMs,
    process: (id, attempt) => investigateIncident(id, attempt, { settings, store, metrics, log, signal: runs.signal }),
    onError: (err) => log.warn({ err: err.message }, 'worker'),
    onFailed: (id, err, final) => {
      log.warn({ incident: id, err: err.message, final }, 'investigation failed');
      if (final) void store.update(id, { status: 'failed', error: err.message }).catch(() => undefined);
    },
  });
  // A worker's own counters (investigations by outcome, step durations) on its own port.
  let metricsServer: Server | null = null;
  if (cfg.worker.metricsPort !== undefined) {
    metricsServer = createServer((req, res) => {
      void (async () => {
        if (req.url === '/metrics') {
          const text = await metrics.registry.metrics();
          res.writeHead(200, { 'content-type': metrics.registry.contentType });
          res.end(text);
        } else if (req.url === '/healthz') {
          const ok = await store.ping();
          res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ ok, redis: ok ? 'up' : 'down' }));
        } else {
          res.writeHead(404).end();
        }
      })();
    });
    const srv = metricsServer;
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(cfg.worker.metricsPort, cfg.worker.metricsHost, () => resolve());
    });
  }
  const slackCfg = cfg.slack;
  const actionWorker = slackCfg
    ? startInvestigationWorker({
        queue: ACTIONS,
        redisUrl: cfg.redis.url,
        prefix: cfg.redis.prefix,
        concurrency: 1,
        lockDurationMs: cfg.worker.lockDurationMs,
        stalledIntervalMs: cfg.worker.stalledIntervalMs,
        process: (hash) => runApproved(hash, { settings, store, chat: new SlackChat({ botToken: slackCfg.botToken, ...(slackCfg.apiUrl ? { apiUrl: slackCfg.apiUrl } : {}) }), net: new NodeNet(), log }),
        onError: (err) => log.warn({ err: err.message }, 'action worker'),
        onFailed: (hash, err) => log.warn({ hash, err: err.message }, 'action failed'),
      })
    : null;
  log.info({ concurrency: cfg.worker.concurrency, redis: cfg.redis.url.replace(/\/\/[^@]*@/, '//[REDACTED]@'), prefix: cfg.redis.prefix, metricsPort: cfg.worker.metricsPort ?? null }, 'worker started');
  await waitForSignal(signal);
  metricsServer?.close();
  log.info({ deadlineMs: cfg.worker.shutdownTimeoutMs }, 'shutting down');
  const timer = setTimeout(() => runs.abort(), cfg.worker.shutdownTimeoutMs).unref();
  await Promise.all([worker.close(cfg.worker.shutdownTimeoutMs), actionWorker?.close(cfg.worker.shutdownTimeoutMs)]);
  clearTimeout(timer);
  await store.close();
}
