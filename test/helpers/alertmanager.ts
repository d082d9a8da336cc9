// A real Alertmanager (Debian package `prometheus-alertmanager`) on a loopback port, with one
// webhook receiver pointing at the bot, for the end-to-end alert pipeline tests.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { AlertmanagerPayload } from '../../src/integrations/alerts/alertmanager.js';
import { freePort } from './ports.js';

const BIN = '/usr/bin/prometheus-alertmanager';
const READY_TIMEOUT_MS = 20_000;
const MAX_STDERR = 64 * 1024;

export interface AlertmanagerOptions {
  /** Where the receiver posts, e.g. `http://127.0.0.1:PORT/webhooks/alertmanager`. */
  webhookUrl: string;
  /** Sent as `Authorization: Bearer <token>`. */
  bearerToken: string;
  /** default 1000 */
  groupWaitMs?: number;
  /** default 1000 */
  groupIntervalMs?: number;
  /** default 60000 */
  repeatIntervalMs?: number;
}

export interface Alertmanager {
  url: string;
  /** `GET /api/v2/alerts`: the alerts Alertmanager currently holds. */
  alerts(): Promise<{ labels: Record<string, string>; status: { state: string }; fingerprint: string; startsAt: string }[]>;
  /** SIGTERM (SIGKILL after 5 s), then removes its directory. Idempotent. */
  stop(): Promise<void>;
  /** What it printed so far (logs go to stderr). */
  output(): string;
}

const live = new Set<import('node:child_process').ChildProcess>();
let exitHook = false;

/** Alertmanager durations: whole milliseconds are accepted as `NNNms`. */
const dur = (ms: number) => `${Math.max(1, Math.round(ms))}ms`;

export async function startAlertmanager(opts: AlertmanagerOptions): Promise<Alertmanager> {
  if (!existsSync(BIN)) {
    throw new Error(
      'prometheus-alertmanager not found: run `npm test` as root on Debian (it installs it), or: apt-get install -y prometheus-alertmanager',
    );
  }
  const dir = mkdtempSync(join(tmpdir(), 'triage-am-'));
  const configFile = join(dir, 'alertmanager.yml');
  writeFileSync(
    configFile,
    stringify({
      route: {
        receiver: 'triage',
        group_by: ['alertname', 'instance'],
        group_wait: dur(opts.groupWaitMs ?? 1000),
        group_interval: dur(opts.groupIntervalMs ?? 1000),
        repeat_interval: dur(opts.repeatIntervalMs ?? 60_000),
      },
      receivers: [
        {
          name: 'triage',
          webhook_configs: [
            {
              url: opts.webhookUrl,
              send_resolved: true,
              http_config: { authorization: { type: 'Bearer', credentials: opts.bearerToken } },
            },
          ],
        },
      ],
    }),
    { mode: 0o600 },
  );

  if (!exitHook) {
    exitHook = true;
    process.on('exit', () => {
      for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    });
  }

  try {
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const url = `http://127.0.0.1:${port}`;
      const child = spawn(
        BIN,
        [
          '--config.file', configFile,
          '--storage.path', join(dir, 'data'),
          '--web.listen-address', `127.0.0.1:${port}`,
          '--cluster.listen-address=',
          '--log.level', 'warn',
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      live.add(child);
      child.once('exit', () => live.delete(child));
      let stderr = '';
      child.stderr!.setEncoding('utf8');
      child.stderr!.on('data', (d: string) => {
        if (stderr.length < MAX_STDERR) stderr += d;
      });
      let spawnError: Error | undefined;
      child.on('error', (e) => (spawnError = e));

      const deadline = Date.now() + READY_TIMEOUT_MS;
      let died = false;
      for (;;) {
        if (spawnError) throw new Error(`prometheus-alertmanager failed to start: ${spawnError.message}`);
        if (child.exitCode !== null || child.signalCode !== null) {
          died = true;
          break;
        }
        const ready = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false);
        if (ready) break;
        if (Date.now() > deadline) {
          child.kill('SIGKILL');
          throw new Error(`prometheus-alertmanager not ready on ${url} within ${READY_TIMEOUT_MS} ms; stderr:\n${stderr.trim() || '(empty)'}`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      if (died) {
        await new Promise((r) => setTimeout(r, 50)); // let stderr flush
        if (attempt < 3 && /address already in use/i.test(stderr)) continue;
        throw new Error(
          `prometheus-alertmanager exited (${child.signalCode ?? `code ${child.exitCode}`}) with config ${configFile}; stderr:\n${stderr.trim() || '(empty)'}`,
        );
      }

      let stopping: Promise<void> | undefined;
      return {
        url,
        output: () => stderr,
        async alerts() {
          const res = await fetch(`${url}/api/v2/alerts`);
          if (!res.ok) throw new Error(`GET ${url}/api/v2/alerts: ${res.status}`);
          return (await res.json()) as Awaited<ReturnType<Alertmanager['alerts']>>;
        },
        stop() {
          stopping ??= (async () => {
            if (child.exitCode === null && child.signalCode === null) {
              await new Promise<void>((resolve) => {
                const t = setTimeout(() => child.kill('SIGKILL'), 5000);
                child.once('exit', () => {
                  clearTimeout(t);
                  resolve();
                });
                child.kill('SIGTERM');
              });
            }
            rmSync(dir, { recursive: true, force: true });
          })();
          return stopping;
        },
      };
    }
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** One alert of a webhook body; what is left out gets Alertmanager's value for it. */
export interface AlertSpec {
  labels: Record<string, string>;
  fingerprint: string;
  /** RFC 3339. */
  startsAt: string;
  /** default 'firing' */
  status?: 'firing' | 'resolved';
  /** default '0001-01-01T00:00:00Z' (Go's zero time) when firing, now when resolved */
  endsAt?: string;
  /** default {} */
  annotations?: Record<string, string>;
  /** default '' */
  generatorURL?: string;
}

export interface AlertmanagerPayloadOptions {
  /** default 'firing' if any alert fires, else 'resolved' */
  status?: 'firing' | 'resolved';
  /** default `{alertname}` of commonLabels, or `{}` */
  groupLabels?: Record<string, string>;
  /** default Alertmanager's form of groupLabels: `{}:{alertname="X", instance="Y"}` */
  groupKey?: string;
  /** default 'http://alertmanager:9093' */
  externalURL?: string;
}

const ZERO_TIME = '0001-01-01T00:00:00Z';

/**
 * A webhook body as Alertmanager (version "4", receiver `triage`) sends it, fields in its order.
 * commonLabels are the labels every alert carries with the same value.
 */
export function alertmanagerPayload(alerts: AlertSpec[], opts: AlertmanagerPayloadOptions = {}): AlertmanagerPayload {
  const commonLabels = Object.fromEntries(
    Object.entries(alerts[0]?.labels ?? {}).filter(([k, v]) => alerts.every((a) => a.labels[k] === v)),
  );
  const groupLabels = opts.groupLabels ?? (commonLabels.alertname === undefined ? {} : { alertname: commonLabels.alertname });
  const groupKey =
    opts.groupKey ??
    `{}:{${Object.keys(groupLabels).sort().map((k) => `${k}=${JSON.stringify(groupLabels[k])}`).join(', ')}}`;
  return {
    receiver: 'triage',
    status: opts.status ?? (alerts.some((a) => (a.status ?? 'firing') === 'firing') ? 'firing' : 'resolved'),
    alerts: alerts.map((a) => ({
      status: a.status ?? 'firing',
      labels: a.labels,
      annotations: a.annotations ?? {},
      startsAt: a.startsAt,
      endsAt: a.endsAt ?? (a.status === 'resolved' ? new Date().toISOString() : ZERO_TIME),
      generatorURL: a.generatorURL ?? '',
      fingerprint: a.fingerprint,
    })),
    groupLabels,
    commonLabels,
    commonAnnotations: {},
    externalURL: opts.externalURL ?? 'http://alertmanager:9093',
    version: '4',
    groupKey,
    truncatedAlerts: 0,
  };
}
