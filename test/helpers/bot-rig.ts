// The whole bot on loopback, for end-to-end tests: the Slack emulator, a lab service run by the
// SSH user, a private sshd, a Redis store under a unique prefix, a YAML config, `triage serve` and
// `triage worker`. Each test gives its own config sections as data.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { RedisIncidentStore } from '../../src/integrations/store/redis.js';
import { startLab, type LabHandle, type LabOptions } from '../../src/lab/lab.js';
import { freePort } from './ports.js';
import { cleanPrefix, REDIS_URL, uniquePrefix } from './redis.js';
import { startSlackEmulator, type SlackEmulator } from './slack-emulator.js';
import { startSshd, TEST_USER, type Sshd, type StartSshdOptions } from './sshd.js';
import { startServe, startWorker, type ServeProcess, type WorkerProcess } from './triage-service.js';

/** A host's `ssh` section in the config, for `sshd`. */
export const sshConfig = (sshd: Sshd) => ({ port: sshd.port, user: sshd.user, keyPath: sshd.keyPath, hostKey: { knownHosts: sshd.knownHostsPath } });

export interface BotRigOptions {
  /** Names the Redis prefix and the temp dir. */
  name: string;
  /** The lab, run by TEST_USER on a free port. */
  lab: Omit<LabOptions, 'port' | 'runAs'>;
  sshd?: StartSshdOptions;
  /** The Slack signing secret serve is configured with. */
  signingSecret: string;
  /**
   * Config sections besides the defaults: `hosts` (`lab-1` over the sshd), `services` (`checkout`
   * on the lab's port, on `lab-1`), `redis` (the rig's prefix) replaced when given; `server` and
   * `slack` merged into theirs (a free port on 127.0.0.1; http mode to the emulator, progress
   * edits every 200 ms).
   */
  config: (parts: { port: number; sshd: Sshd; slack: SlackEmulator }) => Record<string, unknown> & { server?: object; slack?: object };
}

export interface BotRig {
  slack: SlackEmulator;
  lab: LabHandle;
  sshd: Sshd;
  store: RedisIncidentStore;
  serve: ServeProcess;
  worker: WorkerProcess;
  configPath: string;
  prefix: string;
  /** `http://…/slack/events` on serve. */
  events: string;
  /** The ends of the worker's and serve's output, for a failure message. */
  logs(): string;
  /** Stops the bot, then what it talks to, cleans the prefix and removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

/** Starts the rig; if a part fails to start, the parts started so far are stopped before it rejects. */
export async function startBotRig(opts: BotRigOptions): Promise<BotRig> {
  const prefix = uniquePrefix(opts.name);
  const dir = mkdtempSync(join(tmpdir(), `triage-${opts.name}-`));
  const parts: { stop(): Promise<void> }[] = [];
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      const errors: unknown[] = [];
      for (const p of parts.reverse()) await p.stop().catch((e: unknown) => errors.push(e));
      await cleanPrefix(prefix).catch((e: unknown) => errors.push(e));
      rmSync(dir, { recursive: true, force: true });
      if (errors.length) throw errors[0];
    })());
  try {
    const slack = await startSlackEmulator({ botUserId: 'U0TRIAGE' });
    parts.push(slack);
    const port = await freePort();
    const [lab, sshd] = await Promise.all([
      startLab({ ...opts.lab, port, runAs: TEST_USER }).then((l) => (parts.push(l), l)),
      startSshd(opts.sshd).then((s) => (parts.push(s), s)),
    ]);
    const { server, slack: slackSection, ...rest } = opts.config({ port, sshd, slack });
    const configPath = join(dir, 'triage.config.yaml');
    writeFileSync(
      configPath,
      stringify({
        hosts: { 'lab-1': { address: '127.0.0.1', ssh: sshConfig(sshd) } },
        services: { checkout: { port, instances: ['lab-1'] } },
        redis: { url: REDIS_URL, prefix },
        ...rest,
        server: { host: '127.0.0.1', port: await freePort(), ...server },
        slack: { mode: 'http', botToken: slack.botToken, signingSecret: opts.signingSecret, apiUrl: slack.apiUrl, progressEditIntervalMs: 200, ...slackSection },
      }),
    );
    const store = new RedisIncidentStore(REDIS_URL, prefix);
    parts.push({ stop: () => store.close() });
    await store.ready(5000).catch(() => {
      throw new Error(`Redis is not reachable at ${REDIS_URL}: start redis-server (apt-get install -y redis-server), or set REDIS_URL`);
    });
    const serve = await startServe(configPath);
    parts.push(serve);
    const worker = await startWorker(configPath);
    parts.push(worker);
    return {
      slack,
      lab,
      sshd,
      store,
      serve,
      worker,
      configPath,
      prefix,
      events: `${serve.url}/slack/events`,
      logs: () => `--- worker\n${worker.output().slice(-3000)}\n--- serve\n${serve.output().slice(-2000)}`,
      stop,
    };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}

/** Polls `fn` every 100 ms until it returns something truthy; rejects after `timeoutMs` saying what it waited for. */
export async function until<T>(what: string, fn: () => T | undefined | null | false | Promise<T | undefined | null | false>, timeoutMs: number, context: () => string = () => ''): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${context()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
