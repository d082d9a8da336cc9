import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort } from './ports.js';

export interface Prometheus {
  url: string;
  stop(): Promise<void>;
  /** Instant query; the `data.result` array. */
  query(q: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
}

export interface PrometheusOptions {
  /** YAML of one rule file (`groups: [...]`), loaded through `rule_files`. */
  rules?: string;
  /** Alertmanager to send firing alerts to, e.g. `http://127.0.0.1:9093`. */
  alertmanagerUrl?: string;
  /** Rule evaluation interval; default 1. */
  evaluationIntervalSec?: number;
}

const BIN = '/usr/bin/prometheus';

/**
 * A real Prometheus server (Debian package `prometheus`) on a loopback port scraping `targets`
 * every second; optionally evaluating `rules` and sending alerts to an Alertmanager.
 */
export async function startPrometheus(targets: string[], opts: PrometheusOptions = {}): Promise<Prometheus> {
  if (!existsSync(BIN)) throw new Error('prometheus not found: run `npm test` as root on Debian (it installs it), or: apt-get install -y prometheus');
  const dir = mkdtempSync(join(tmpdir(), 'triage-prom-'));
  const port = await freePort();
  const config: Record<string, unknown> = {
    global: { scrape_interval: '1s', scrape_timeout: '900ms', evaluation_interval: `${opts.evaluationIntervalSec ?? 1}s` },
    scrape_configs: [{ job_name: 'lab', static_configs: [{ targets }] }],
  };
  if (opts.rules !== undefined) {
    writeFileSync(join(dir, 'rules.yml'), opts.rules);
    config.rule_files = [join(dir, 'rules.yml')];
  }
  if (opts.alertmanagerUrl !== undefined) {
    const am = new URL(opts.alertmanagerUrl);
    config.alerting = {
      alertmanagers: [{ scheme: am.protocol.replace(':', ''), ...(am.pathname !== '/' ? { path_prefix: am.pathname } : {}), static_configs: [{ targets: [am.host] }] }],
    };
  }
  writeFileSync(join(dir, 'prometheus.yml'), stringify(config));
  const child = spawn(BIN, [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=error'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`prometheus exited: ${stderr.slice(-500)}`);
    const ready = await fetch(`${url}/-/ready`).then((r) => r.ok, () => false);
    if (ready) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`prometheus not ready within 20 s: ${stderr.slice(-500)}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    async query(q) {
      const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(q)}`);
      const body = (await res.json()) as { data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
      return body.data.result;
    },
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => {
          const t = setTimeout(() => {
            child.kill('SIGKILL');
            r(null);
          }, 3000);
          child.once('exit', () => {
            clearTimeout(t);
            r(null);
          });
        });
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
