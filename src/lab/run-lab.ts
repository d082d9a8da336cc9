/**
 * `triage lab --scenario db-pool --port 2133`: start the lab, narrate it once a second, say when the
 * failure is reproduced, and stop cleanly when the signal aborts (Ctrl-C).
 */
import { startLab, type LabHandle, type LabOptions, type LabStatus } from './lab.js';
import { getScenario } from './scenarios.js';

function loadSummary(load: Record<string, number>): string {
  const keys = ['ok', 'timeout', 'reset', 'eof', 'other', 'refused', 'skipped', 'inflight'];
  const parts = keys.filter((k) => load[k] !== undefined && (load[k] !== 0 || k === 'ok')).map((k) => `${k} ${load[k]}`);
  return parts.length ? parts.join(', ') : 'no report yet';
}

export function formatStatus(s: LabStatus): string {
  return `fds ${s.fdsOpen ?? '?'}/${s.fdsLimit ?? '?'}, CLOSE_WAIT ${s.closeWait}; load last second: ${loadSummary(s.load)}`;
}

export async function runLabCommand(opts: LabOptions & { out: (line: string) => void; signal: AbortSignal }): Promise<void> {
  const { out, signal, ...labOpts } = opts;
  const scenario = getScenario(labOpts.scenario);
  if (signal.aborted) return;
  out(`lab scenario ${scenario.id}: ${scenario.description}`);

  const lab: LabHandle = await startLab({ ...labOpts, onLine: labOpts.onLine ?? ((l) => out(`  ${l}`)) });
  const st = lab.settings;
  out(
    `service pid ${lab.pid} on ${lab.host}:${lab.port}, nofile ${st.nofile}, pool max ${st.poolMax}, query ${st.queryMs} ms; ` +
      `load ${st.rps} req/s, client time-out ${st.clientTimeoutMs} ms`,
  );
  out(`logs: ${lab.logDir}/{access,app,error}.log`);

  const aborted = new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });

  let ticker: NodeJS.Timeout | undefined;
  try {
    const t0 = Date.now();
    let busy = false;
    ticker = setInterval(() => {
      if (busy) return;
      busy = true;
      lab
        .status()
        .then((s) => out(`[${Math.round((Date.now() - t0) / 1000)}s] ${formatStatus(s)}`))
        .catch((err: unknown) => out(`status: ${(err as Error).message}`))
        .finally(() => (busy = false));
    }, 1000);

    if (scenario.breaks) {
      lab.waitForFailure(120_000).then(
        (s) => {
          if (signal.aborted) return;
          out(
            `failure reproduced after ${((Date.now() - t0) / 1000).toFixed(1)} s: ${s.fdsOpen}/${s.fdsLimit} descriptors in use, ` +
              `${s.closeWait} sockets in CLOSE_WAIT, ` +
              (s.probe === 'reset'
                ? 'a fresh connection was reset by peer'
                : 'fresh connections are accepted and closed unanswered (EOF; the close beat the request bytes, so no RST this time)'),
          );
          out(`  try: curl -v http://${lab.host}:${lab.port}/xx/checkalive   (expect "Connection reset by peer", exit 56, or on loopback often "Empty reply from server", exit 52)`);
          out(`  and: ls /proc/${lab.pid}/fd | wc -l; ss -tan state close-wait '( sport = :${lab.port} )'; tail ${lab.logDir}/app.log`);
          out('  Ctrl-C stops the lab');
        },
        (err: unknown) => {
          if (!signal.aborted) out(`not reproduced: ${(err as Error).message}`);
        },
      );
    } else {
      lab.waitReady(10_000).then(
        () => out(`service is answering; this scenario is not meant to fail. Ctrl-C stops the lab`),
        (err: unknown) => out(`service not answering: ${(err as Error).message}`),
      );
    }
    await aborted;
    out('stopping the lab');
  } finally {
    if (ticker) clearInterval(ticker);
    await lab.stop();
  }
}
