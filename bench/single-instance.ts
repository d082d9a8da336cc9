// Benchmark 1: one instance, the whole connreset runbook over SSH on loopback against the db-pool
// lab, against what an engineer's script would do: the same commands, one `ssh` process each, in
// sequence. Both sides are timed in the same run, interleaved, on the same broken lab.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { investigate } from '../src/engine/investigate.js';
import type { Report } from '../src/engine/report.js';
import { startLab } from '../src/lab/lab.js';
import { connreset } from '../src/runbooks/connreset.js';
import { freePort } from '../test/helpers/ports.js';
import { onCleanup } from './lib-env.js';
import { CommandRecorder, runSsh, sshSettings, startBenchSshd, TEST_USER } from './lib-ssh.js';
import { median, type BenchResult } from './result.js';

const GOAL_RATIO = 10;
const HOST = 'lab-1';

export async function run(opts: { runs: number }): Promise<BenchResult> {
  const runs = Math.max(5, opts.runs);
  const port = await freePort();
  // The lab runs as the SSH user, so that user may read the service's /proc/PID/fd (as the
  // connreset integration test does).
  const logDir = mkdtempSync(join(tmpdir(), 'triage-bench-lab-'));
  const removeLogs = onCleanup(() => rmSync(logDir, { recursive: true, force: true }));
  const lab = await startLab({ scenario: 'db-pool', port, runAs: TEST_USER, logDir }).catch(async (err: unknown) => {
    await removeLogs();
    throw err;
  });
  const stopLab = onCleanup(async () => {
    await lab.stop();
    await removeLogs();
  });
  const sshd = await startBenchSshd();
  const recorder = new CommandRecorder().start();
  try {
    await lab.waitForFailure(60_000);
    // One sample: every step collects once, so there is no sampling interval to exclude.
    const settings = sshSettings(sshd, [HOST], { samples: 1 });
    const investigateOnce = async (): Promise<{ ms: number; sshMs: number; report: Report; argv: string[][] }> => {
      recorder.clear();
      const t0 = performance.now();
      const report = await investigate({ runbook: connreset, target: { host: HOST, port }, settings, local: false, samples: 1 });
      const ms = performance.now() - t0;
      return { ms, sshMs: recorder.spanMs(HOST), report, argv: recorder.argv(HOST) };
    };
    const baselineOnce = async (argv: string[][]): Promise<{ ms: number; failed: number }> => {
      let failed = 0;
      const t0 = performance.now();
      for (const cmd of argv) {
        const r = await runSsh(sshd, cmd);
        if (r.code === 255) throw new Error(`baseline ssh failed: ${r.stderr.trim()}`);
        if (r.code !== 0) failed++;
      }
      return { ms: performance.now() - t0, failed };
    };

    // Warm-up, not counted: loads the modules and JIT-compiles the code paths of both sides.
    const warm = await investigateOnce();
    await baselineOnce(warm.argv.slice(0, 2));

    const ssh: number[] = [];
    const whole: number[] = [];
    const baseline: number[] = [];
    const commands: number[] = [];
    const probeMs: number[] = [];
    const rootCauses: string[] = [];
    let nonZeroExits = 0;
    for (let i = 0; i < runs; i++) {
      const t = await investigateOnce();
      const b = await baselineOnce(t.argv);
      ssh.push(t.sshMs);
      whole.push(t.ms);
      baseline.push(b.ms);
      commands.push(t.argv.length);
      probeMs.push(t.report.steps.find((s) => s.id === 'probe-http')?.durationMs ?? 0);
      rootCauses.push(t.report.diagnosis.rootCause?.id ?? 'none');
      nonZeroExits += b.failed;
    }
    const triageMs = median(ssh);
    const wholeMs = median(whole);
    const baselineMs = median(baseline);
    const ratio = baselineMs / triageMs;
    const wholeRatio = baselineMs / wholeMs;
    const perCommandMs = baselineMs / median(commands);
    const met = ratio >= GOAL_RATIO;
    const causes = [...new Set(rootCauses)].map((c) => `${c} ${rootCauses.filter((x) => x === c).length}/${runs}`).join(', ');
    const notes = [
      `Target: the db-pool lab (descriptors exhausted, CLOSE_WAIT piling up, fresh connections reset), run as ${TEST_USER}, behind a private OpenSSH sshd on 127.0.0.1 (key auth, login user ${TEST_USER} with a clean home).`,
      `triage: the connreset runbook through the real engine (investigate() with the SshExecutor: one SSH connection, the commands on concurrent channels), in-process, samples=1: every step collects once, so there is no sampling interval to exclude. Root cause found: ${causes}.`,
      `triage (goal figure): from the start of its first SSH command (the connect included) to the end of its last, i.e. the same commands the baseline runs. Whole investigation (also the bot's own HTTP probe of the service and its /metrics fetches, the diagnosis, the disconnect): median ${fmtMs(wholeMs)}, ${wholeRatio.toFixed(1)}x the baseline. The sick service makes that figure jump: a probe that lands on a just-freed descriptor waits out its 3 s time-out and a /metrics fetch its 1.5 s one (probe step per run: ${probeMs.map((p) => Math.round(p)).join(', ')} ms); an engineer's curl would wait just as long.`,
      `baseline: the very same argv the runbook ran in that run (${median(commands)} commands, recorded from the executor, without triage's \`timeout\` wrapper), each as \`ssh -F /dev/null -i KEY -p PORT -o BatchMode=yes ... ${TEST_USER}@127.0.0.1 '<shellJoin(argv)>'\`, one process after the other: ${Math.round(perCommandMs)} ms per command. It does no HTTP probe.`,
      `The two sides are interleaved run by run on the same lab; one warm-up run of each is not counted. Per run (triage SSH / whole / baseline, ms): ${ssh.map((t, i) => `${Math.round(t)} / ${Math.round(whole[i] ?? 0)} / ${Math.round(baseline[i] ?? 0)}`).join('; ')}.`,
    ];
    if (nonZeroExits > 0) notes.push(`${nonZeroExits} baseline commands exited non-zero, as they did for triage (e.g. \`tail\` of the absent conntrack files); timed all the same.`);
    if (!met) notes.push(`Goal not met: ${ratio.toFixed(1)}x is below ${GOAL_RATIO}x.`);
    else if (wholeRatio < GOAL_RATIO) notes.push(`Counting the whole investigation (HTTP probe waits included) instead, the ratio is ${wholeRatio.toFixed(1)}x: below ${GOAL_RATIO}x.`);
    return {
      name: 'single-instance',
      title: 'One instance, full connreset runbook over SSH on loopback (db-pool lab)',
      goal: `>= ${GOAL_RATIO}x faster than one ssh per command`,
      met,
      runs,
      figures: {
        triageMs: round(triageMs),
        baselineMs: round(baselineMs),
        ratio: round(ratio, 1),
        wholeInvestigationMs: round(wholeMs),
        wholeRatio: round(wholeRatio, 1),
        commands: median(commands),
        baselinePerCommandMs: round(perCommandMs),
      },
      summary: `triage ${fmtMs(triageMs)} vs ssh-per-command ${fmtMs(baselineMs)} (${median(commands)} commands): ${ratio.toFixed(1)}x; whole investigation ${fmtMs(wholeMs)}`,
      notes,
    };
  } finally {
    recorder.stop();
    await sshd.close();
    await stopLab();
  }
}

export function round(n: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

export function fmtMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`;
}
