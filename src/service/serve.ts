import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { ChatAdapter } from '../integrations/chat/adapter.js';
import type { Settings } from '../config.js';
import type { AlertRef } from '../core/incident.js';
import { checkAuth, parseAlertmanager, parseGeneric, parseGrafana, routeAlert } from '../integrations/alerts/index.js';
import type { AlertEvent, ParseResult } from '../integrations/alerts/types.js';
import type { InvestigationQueue } from '../integrations/queue/investigations.js';
import { event, type IncidentStore } from '../integrations/store/store.js';
import type { Logger } from '../log.js';
import type { Metrics } from './metrics.js';
import { draftPostmortem } from '../postmortem/index.js';

export interface ServeDeps {
  /** Slack's HTTP receiver (Bolt), for paths under /slack/. */
  slackListener?: RequestListener;
  /** Where alert-triggered incidents open their thread (slack.alertChannel). */
  chat?: ChatAdapter;
  settings: Settings;
  store: IncidentStore;
  queue: InvestigationQueue;
  metrics: Metrics;
  log: Logger;
  now?: () => Date;
}

type Source = AlertEvent['source'];
const SOURCES: readonly Source[] = ['alertmanager', 'grafana', 'generic'];

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function send(res: ServerResponse, status: number, body: unknown, contentType = 'application/json'): void {
  const text = typeof body === 'string' ? body : `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Past the cap this much more is read and dropped, so the sender sees the 413; beyond it the connection is cut. */
const DRAIN_MAX_BYTES = 16 * 1024 * 1024;

function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= max) return void chunks.push(c);
      if (!over) {
        over = true;
        chunks.length = 0;
        reject(new HttpError(413, `body larger than ${max} bytes`));
      } else if (size > max + DRAIN_MAX_BYTES) {
        req.destroy();
      }
    });
    req.on('end', () => {
      if (!over) resolve(Buffer.concat(chunks));
    });
    req.on('error', reject);
  });
}

/** Store errors while Redis is down: answer 503 so Alertmanager retries (it drops 4xx). */
function isUnavailable(err: unknown): boolean {
  const msg = (err as Error)?.message ?? '';
  return /Stream isn't writeable|enableOfflineQueue|Connection is closed|ECONNREFUSED|MaxRetriesPerRequest|ETIMEDOUT|not connected|Redis not ready/i.test(msg);
}

/**
 * The bot's HTTP front: webhooks (authenticated, validated, stored and enqueued — never
 * investigated in the request), /healthz and /metrics. Slack's receiver joins it later.
 */
export function createTriageServer(deps: ServeDeps): Server {
  const { settings, store, queue, metrics, log } = deps;
  const now = deps.now ?? (() => new Date());
  const cfg = settings.config;

  const say = async (thread: { channel: string; ts: string }, text: string) => {
    try {
      await deps.chat?.post(thread.channel, { kind: 'text', text }, thread.ts);
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'slack post failed');
    }
  };
  /** An alert-triggered incident gets a root message in the alert channel; its thread carries the rest. */
  const openAlertThread = async (incidentId: string, runbook: string, target: string, alert: AlertEvent) => {
    const channel = cfg.slack?.alertChannel;
    if (!deps.chat || !channel) return;
    try {
      const root = await deps.chat.post(channel, { kind: 'text', text: `:rotating_light: ${alert.labels.alertname ?? 'alert'} on ${target} — incident ${incidentId}, runbook ${runbook}` });
      const progress = await deps.chat.post(channel, { kind: 'progress', title: `${target} — runbook ${runbook}`, steps: [] }, root.ts);
      await store.update(incidentId, { thread: { channel: root.channel, ts: root.ts, progressTs: progress.ts } });
    } catch (err) {
      // Slack being down must not lose the alert: the incident goes on without a thread.
      log.warn({ err: (err as Error).message, incident: incidentId }, 'could not open the Slack thread');
      await store.append(incidentId, event('notify-failed', `could not open the incident's Slack thread in ${channel}: ${(err as Error).message}`, now())).catch(() => undefined);
    }
  };

  const handleWebhook = async (source: Source, req: IncomingMessage): Promise<{ status: number; body: unknown }> => {
    const hook = cfg.webhooks[source];
    if (!hook) throw new HttpError(404, `webhook ${source} is not configured (webhooks.${source} in the config)`);
    const raw = await readBody(req, cfg.server.maxBodyBytes);
    const auth = checkAuth(hook.auth, { headers: req.headers, rawBody: raw, nowMs: now().getTime() });
    if (!auth.ok) throw new HttpError(401, auth.reason);
    let json: unknown;
    try {
      json = JSON.parse(raw.toString('utf8'));
    } catch {
      throw new HttpError(400, 'body is not JSON');
    }
    const parsed: ParseResult =
      source === 'alertmanager' ? parseAlertmanager(json) : source === 'grafana' ? parseGrafana(json) : parseGeneric(json, cfg.webhooks.generic?.mapping ?? { alerts: 'alerts', fingerprint: 'fingerprint', status: 'status', startsAt: 'startsAt', labels: 'labels', annotations: 'annotations' });
    if (!parsed.ok) throw new HttpError(400, parsed.reason);

    const incidents: { id: string; created: boolean; duplicate: boolean; target: string }[] = [];
    const unrouted: { fingerprint: string; reason: string }[] = [];
    for (const alert of parsed.alerts) {
      const route = routeAlert(alert, cfg.routes, cfg);
      if (!route.ok) {
        unrouted.push({ fingerprint: alert.fingerprint, reason: route.reason });
        metrics.alerts.inc({ outcome: 'unrouted' });
        await store.recordUnrouted({ at: now().toISOString(), source, fingerprint: alert.fingerprint, labels: alert.labels, reason: route.reason });
        log.warn({ source, fingerprint: alert.fingerprint, reason: route.reason }, 'alert maps to no known target');
        continue;
      }
      const target = `${route.target.host}:${route.target.port}`;
      const ref: AlertRef = { key: '', fingerprint: alert.fingerprint, startsAt: alert.startsAt, status: alert.status, labels: alert.labels };
      if (alert.status === 'resolved') {
        const inc = await store.resolveAlert(route.runbook, target, ref, now());
        metrics.alerts.inc({ outcome: 'resolved' });
        if (inc) incidents.push({ id: inc.id, created: false, duplicate: false, target });
        continue;
      }
      const res = await store.openOrJoin({ runbook: route.runbook, target, trigger: { kind: 'alert', source, alertname: alert.labels.alertname ?? '' }, alert: ref, now: now() });
      metrics.alerts.inc({ outcome: res.created ? 'created' : res.duplicate ? 'duplicate' : 'joined' });
      // Enqueue while the incident has not started: the job id is the incident id, so a retried
      // delivery after a failed enqueue (Redis down) enqueues it, and a repeated one does nothing.
      if (res.created) await openAlertThread(res.incident.id, route.runbook, target, alert);
      else if (!res.duplicate && res.incident.thread) void say(res.incident.thread, `Another alert joined: ${alert.labels.alertname ?? ''} ${alert.fingerprint} (${alert.startsAt})`);
      if (res.incident.status === 'open') {
        await queue.enqueue(res.incident.id);
        if (res.created) await store.append(res.incident.id, event('investigation-queued', `${route.runbook} on ${target} queued`, now()));
      }
      incidents.push({ id: res.incident.id, created: res.created, duplicate: res.duplicate, target });
    }
    log.info({ source, alerts: parsed.alerts.length, created: incidents.filter((i) => i.created).length, unrouted: unrouted.length }, 'webhook accepted');
    return { status: 200, body: { accepted: parsed.alerts.length, incidents, unrouted } };
  };

  return createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const route = url.pathname;
    void (async () => {
      try {
        if (req.method === 'GET' && route === '/healthz') {
          const redis = await store.ping();
          return send(res, redis ? 200 : 503, { ok: redis, redis: redis ? 'up' : 'down' });
        }
        if (route.startsWith('/slack/') && deps.slackListener) {
          return deps.slackListener(req, res);
        }
        if (req.method === 'GET' && route === '/metrics') {
          return send(res, 200, await metrics.registry.metrics(), metrics.registry.contentType);
        }
        const pm = /^\/incidents\/(inc-[a-z0-9]+-[0-9a-f]+)\/postmortem\.md$/.exec(route);
        if (pm && req.method === 'GET') {
          const token = cfg.server.apiToken;
          if (!token) throw new HttpError(404, 'set server.apiToken to read postmortems over HTTP');
          const auth = checkAuth({ type: 'bearer', token }, { headers: req.headers, rawBody: Buffer.alloc(0), nowMs: now().getTime() });
          if (!auth.ok) throw new HttpError(401, auth.reason);
          const incident = await store.get(pm[1] ?? '');
          if (!incident) throw new HttpError(404, 'no such incident');
          const draft = draftPostmortem({ incident, timeline: await store.timeline(incident.id), now: now() });
          return send(res, 200, draft.markdown, 'text/markdown; charset=utf-8');
        }
        const m = /^\/webhooks\/([a-z]+)$/.exec(route);
        if (m && SOURCES.includes(m[1] as Source)) {
          const source = m[1] as Source;
          if (req.method !== 'POST') throw new HttpError(405, 'use POST');
          try {
            const out = await handleWebhook(source, req);
            metrics.webhookRequests.inc({ source, result: 'accepted' });
            return send(res, out.status, out.body);
          } catch (err) {
            const status = err instanceof HttpError ? err.status : isUnavailable(err) ? 503 : 500;
            metrics.webhookRequests.inc({ source, result: String(status) });
            throw err instanceof HttpError ? err : new HttpError(status, status === 503 ? 'the incident store is unavailable; retry' : 'internal error');
          }
        }
        throw new HttpError(404, 'not found');
      } catch (err) {
        const e = err instanceof HttpError ? err : new HttpError(isUnavailable(err) ? 503 : 500, isUnavailable(err) ? 'the incident store is unavailable; retry' : 'internal error');
        if (e.status >= 500) log.error({ err, route }, e.message);
        if (e.status === 413) res.setHeader('connection', 'close');
        if (!res.headersSent) send(res, e.status, { error: e.message });
      }
    })();
  });
}
