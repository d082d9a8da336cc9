import { createServer } from 'node:net';
import type { Settings } from '../config.js';
import { investigate } from '../engine/investigate.js';
import type { Report } from '../engine/report.js';
import type { RunEvent } from '../engine/run.js';
import { connreset } from '../runbooks/connreset.js';
import { startLab } from './lab.js';

export interface DemoOptions {
  port?: number;
  settings: Settings;
  databaseUrl?: string;
  signal: AbortSignal;
  out: (line: string) => void;
  onEvent?: { onEvent(e: RunEvent): void };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** `npm run demo`: the lab reproduces the write-up's incident, the bot investigates it on this machine. */
export async function runDemo(opts: DemoOptions): Promise<Report> {
  const port = opts.port ?? (await freePort());
  opts.out(`demo: starting the lab (scenario db-pool) on 127.0.0.1:${port}`);
  const lab = await startLab({
    scenario: 'db-pool',
    port,
    ...(opts.databaseUrl ? { databaseUrl: opts.databaseUrl } : {}),
    onLine: (l) => opts.out(`  lab: ${l}`),
  });
  try {
    const st = lab.settings;
    opts.out(`demo: service PID ${lab.pid}, nofile ${st.nofile}, DB pool max ${st.poolMax} (${st.queryMs} ms queries), load ${st.rps} req/s with ${st.clientTimeoutMs} ms client time-outs`);
    opts.out('demo: waiting for the failure to reproduce (descriptors at the limit, CLOSE_WAIT, resets)…');
    const s = await lab.waitForFailure(60_000);
    opts.out(`demo: reproduced: ${s.fdsOpen}/${s.fdsLimit} descriptors, ${s.closeWait} CLOSE_WAIT, a fresh client got "connection reset by peer"`);
    opts.out(`demo: running: triage investigate connreset 127.0.0.1:${port} --local`);
    // The write-up's probe: the service's health check, tried often enough to see the pattern.
    const investigation = { ...opts.settings.config.investigation, probePath: '/xx/checkalive', probeAttempts: Math.max(10, opts.settings.config.investigation.probeAttempts) };
    return await investigate({
      runbook: connreset,
      target: { host: '127.0.0.1', port },
      settings: { ...opts.settings, config: { ...opts.settings.config, investigation } },
      local: true,
      signal: opts.signal,
      ...(opts.onEvent ? { onEvent: (e: RunEvent) => opts.onEvent?.onEvent(e) } : {}),
    });
  } finally {
    opts.out('demo: stopping the lab');
    await lab.stop();
  }
}
