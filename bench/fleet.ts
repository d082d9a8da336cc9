// Benchmark 3: fleet fan-out. 100 lab services on loopback ports behind one sshd, each an
// inventory host, investigated with the connreset runbook 20 at a time; against Ansible (Debian
// `ansible`) running the same collection commands ad hoc on the same 100 targets with 20 forks.

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { shellJoin } from '../src/integrations/exec/executor.js';
import { investigate } from '../src/engine/investigate.js';
import type { Report } from '../src/engine/report.js';
import { connreset } from '../src/runbooks/connreset.js';
import { busyShare, cpuTicks, onCleanup } from './lib-env.js';
import { mapLimit, startFleet, type FleetMember } from './lib-fleet.js';
import { CommandRecorder, sshSettings, startBenchSshd, TEST_USER, type Sshd } from './lib-ssh.js';
import { median, type BenchResult } from './result.js';
import { fmtMs, round } from './single-instance.js';

const TARGETS = 100;
const CONCURRENCY = 20;
const GOAL_MS = 10_000;
const GOAL_RATIO = 5;

/** Whether a report is complete: every step ran (history is skipped without Prometheus) and it found the right process. */
function complete(r: Report, m: FleetMember): boolean {
  return r.target.pid === m.pid && r.steps.every((s) => s.status === 'ok' || (s.id === 'history' && s.status === 'skipped'));
}

interface AnsibleRun {
  ms: number;
  /** Share of all CPUs busy during the run. */
  busy: number;
  ok: number;
  failed: number;
  unreachable: number;
  sample: string;
}

export function runAnsible(dir: string, inventory: string, cp: string, pipelining = true): Promise<AnsibleRun> {
  // Ansible's defaults (ssh -C, ControlMaster=auto, ControlPersist=60s) with two changes in its
  // favour: pipelining (one ssh per host instead of mkdir/put/exec/rm) and no interpreter discovery.
  // Every target is 127.0.0.1:PORT as the same user, so Ansible would multiplex all 100 hosts over
  // one master connection; on a real fleet each host has its own: a control path per host, fresh
  // for every run (cold, like triage's connections).
  const env = {
    ...process.env,
    ANSIBLE_CONFIG: join(dir, 'ansible.cfg'),
    ANSIBLE_HOME: join(dir, 'home'),
    ANSIBLE_LOCAL_TEMP: join(dir, 'tmp'),
    ANSIBLE_HOST_KEY_CHECKING: 'False',
    ANSIBLE_PIPELINING: pipelining ? 'True' : 'False',
    ANSIBLE_DEPRECATION_WARNINGS: 'False',
    ANSIBLE_NOCOLOR: 'True',
  };
  const args = ['all', '-i', inventory, '-f', String(CONCURRENCY), '-o', '-m', 'shell', '-a', '{{ triage_commands }}'];
  return new Promise((resolve, reject) => {
    const ticks0 = cpuTicks();
    const t0 = performance.now();
    const child = spawn('ansible', args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    // Interrupted: stop Ansible and the ControlPersist masters it started (they leave its process group).
    const release = onCleanup(async () => {
      child.kill('SIGTERM');
      await stopMasters(cp);
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => {
      if (err.length < 8000) err += d.toString('utf8');
    });
    child.on('error', reject);
    child.on('close', async () => {
      const ms = performance.now() - t0;
      const busy = busyShare(ticks0, cpuTicks());
      await release();
      const lines = out.split('\n');
      const count = (re: RegExp) => lines.filter((l) => re.test(l)).length;
      const res: AnsibleRun = {
        ms,
        busy,
        ok: count(/^\S+ \| CHANGED \|/),
        failed: count(/^\S+ \| FAILED \|/),
        unreachable: count(/^\S+ \| UNREACHABLE!/),
        sample: (lines.find((l) => / \| (UNREACHABLE|FAILED)/.test(l)) ?? err.trim().split('\n')[0] ?? '').slice(0, 300),
      };
      resolve(res);
    });
  });
}

/** Ends the ControlPersist masters one Ansible run left behind (`ssh -O exit`). */
async function stopMasters(cpDir: string): Promise<void> {
  const sockets = existsSync(cpDir) ? readdirSync(cpDir) : [];
  await mapLimit(sockets, 20, (s) => new Promise<void>((resolve) => {
    const p = spawn('ssh', ['-F', '/dev/null', '-o', `ControlPath=${join(cpDir, s)}`, '-O', 'exit', '127.0.0.1'], { stdio: 'ignore' });
    p.on('error', () => resolve());
    p.on('close', () => resolve());
  }));
  rmSync(cpDir, { recursive: true, force: true });
}

/** Writes the inventory for one Ansible run; returns the directory of its per-host control paths. */
export function writeInventory(path: string, cpDir: string, sshd: Sshd, members: FleetMember[], commands: Map<string, string[][]>): string {
  mkdirSync(cpDir, { recursive: true });
  const hosts = Object.fromEntries(
    members.map((m) => [
      m.name,
      {
        ansible_host: '127.0.0.1',
        ansible_port: sshd.port,
        ansible_user: sshd.user,
        ansible_ssh_private_key_file: sshd.keyPath,
        ansible_python_interpreter: '/usr/bin/python3',
        ansible_control_path: join(cpDir, m.name),
        // The host's own commands as triage ran them, one after the other in one remote shell.
        triage_commands: (commands.get(m.name) ?? []).map((argv) => shellJoin(argv)).join(' ; '),
      },
    ]),
  );
  writeFileSync(path, JSON.stringify({ all: { hosts } }, null, 1));
  return cpDir;
}

const pct = (x: number) => `${Math.round(x * 100)}%`;
const cores = () => availableParallelism();

export async function run(opts: { runs: number }): Promise<BenchResult> {
  const runs = Math.max(3, opts.runs);
  const fleet = await startFleet(TARGETS, TEST_USER);
  const sshd = await startBenchSshd();
  const dir = mkdtempSync(join(tmpdir(), 'triage-bench-ansible-'));
  const removeDir = onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'ansible.cfg'), '');
  const recorder = new CommandRecorder().start();
  try {
    const settings = sshSettings(sshd, fleet.members.map((m) => m.name), { samples: 1 });
    const investigateAll = async () => {
      recorder.clear();
      const cpu0 = process.cpuUsage();
      const ticks0 = cpuTicks();
      const t0 = performance.now();
      const perTarget: number[] = [];
      const results = await mapLimit(fleet.members, CONCURRENCY, async (m) => {
        const s0 = performance.now();
        try {
          const r = await investigate({ runbook: connreset, target: { host: m.name, port: m.port }, settings, local: false, samples: 1 });
          return { ok: complete(r, m), error: complete(r, m) ? '' : r.steps.filter((s) => s.status !== 'ok').map((s) => `${s.id}: ${s.error ?? s.status}`).join('; ') };
        } catch (err) {
          return { ok: false, error: (err as Error).message };
        } finally {
          perTarget.push(performance.now() - s0);
        }
      });
      const ms = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      const busy = busyShare(ticks0, cpuTicks());
      const commands = new Map(fleet.members.map((m) => [m.name, recorder.argv(m.name)]));
      return { ms, botCpuMs: (cpu.user + cpu.system) / 1000, busy, complete: results.filter((r) => r.ok).length, firstError: results.find((r) => !r.ok)?.error ?? '', perTargetMedian: median(perTarget), commands };
    };

    // Warm-up, not counted: loads and JIT-compiles triage's code paths; Ansible's first run compiles its .pyc files.
    const warm = await investigateAll();
    const inventory = join(dir, 'inventory.json');
    await runAnsible(dir, inventory, writeInventory(inventory, join(dir, 'cp-0'), sshd, fleet.members, warm.commands));

    const triage: Awaited<ReturnType<typeof investigateAll>>[] = [];
    const ansible: AnsibleRun[] = [];
    for (let i = 1; i <= runs; i++) {
      const t = await investigateAll();
      const a = await runAnsible(dir, inventory, writeInventory(inventory, join(dir, `cp-${i}`), sshd, fleet.members, t.commands));
      triage.push(t);
      ansible.push(a);
    }
    const triageMs = median(triage.map((t) => t.ms));
    const ansibleMs = median(ansible.map((a) => a.ms));
    const ratio = ansibleMs / triageMs;
    const allComplete = triage.every((t) => t.complete === TARGETS);
    const ansibleAll = ansible.every((a) => a.ok + a.failed === TARGETS && a.unreachable === 0);
    const commandsPerHost = median(fleet.members.map((m) => triage[triage.length - 1]?.commands.get(m.name)?.length ?? 0));
    const met = allComplete && triageMs < GOAL_MS && ratio >= GOAL_RATIO;
    const notes = [
      `Fleet: ${TARGETS} lab services (\`healthy\` scenario, no load), each its own node process on its own loopback port, run as ${TEST_USER}; each one an inventory host (127.0.0.1) behind one OpenSSH sshd. On this machine the bot, sshd, the ${TARGETS} services and Ansible share ${'the same CPUs'}.`,
      `triage: ${TARGETS} investigations with the connreset runbook through the real engine, in one process, ${CONCURRENCY} at a time, samples=1 (no sampling interval); each its own SSH connection; timed from the first start to the last report, the bot's HTTP probes and /metrics fetches included. Complete reports per run: ${triage.map((t) => t.complete).join(', ')} of ${TARGETS}${allComplete ? '' : ` (first problem: ${triage.find((t) => t.complete < TARGETS)?.firstError ?? ''})`}; one investigation took ${fmtMs(median(triage.map((t) => t.perTargetMedian)))} (median) with ${CONCURRENCY} in flight.`,
      `Ansible: \`ansible all -i INVENTORY -f ${CONCURRENCY} -o -m shell -a '{{ triage_commands }}'\`, where each host's triage_commands are the ${commandsPerHost} commands triage ran on that host in the run just before (recorded from the executor), joined with \`;\` in one remote shell: one module run per host, which is the cheapest fair way to run them with Ansible (one \`-m command\` run per command would cost ${commandsPerHost} times as many). In Ansible's favour: pipelining on and the Python interpreter given (no discovery); otherwise its defaults (ssh -C, ControlMaster=auto, ControlPersist=60s), with a control path per host and per run, as ${TARGETS} distinct hosts would have. It does no HTTP probe. Hosts answered per run (ok+failed/unreachable): ${ansible.map((a) => `${a.ok + a.failed}/${a.unreachable}`).join(', ')}${ansibleAll ? '' : ` (${ansible.find((a) => a.unreachable > 0 || a.ok + a.failed < TARGETS)?.sample ?? ''})`}.`,
      `Where the time goes${median(triage.map((t) => t.busy)) >= 0.9 ? ' (CPU-bound)' : ''}: the machine's CPUs were ${pct(median(triage.map((t) => t.busy)))} busy during triage's runs, of which triage's own process took ${fmtMs(median(triage.map((t) => t.botCpuMs)))} of CPU per run; the rest is sshd and the remote shells and commands of the ${TARGETS} targets, which share the bot's ${cores()} cores here and would run on the hosts themselves on a real fleet. During Ansible's runs: ${pct(median(ansible.map((a) => a.busy)))} busy.`,
      `The two sides alternate run by run; one warm-up run of each is not counted. Per run (triage / Ansible): ${triage.map((t, i) => `${fmtMs(t.ms)} / ${fmtMs(ansible[i]?.ms ?? 0)}`).join('; ')}.`,
    ];
    if (!met) {
      const gaps: string[] = [];
      if (!allComplete) gaps.push('not every report was complete');
      if (triageMs >= GOAL_MS) gaps.push(`${fmtMs(triageMs)} is not under ${GOAL_MS / 1000} s`);
      if (ratio < GOAL_RATIO) gaps.push(`${ratio.toFixed(1)}x is below ${GOAL_RATIO}x`);
      notes.push(`Goal not met: ${gaps.join('; ')}.`);
    }
    return {
      name: 'fleet',
      title: `Fleet fan-out: ${TARGETS} instances behind one sshd, ${CONCURRENCY} at a time, vs Ansible ad hoc`,
      goal: `all ${TARGETS} reports < ${GOAL_MS / 1000} s, >= ${GOAL_RATIO}x faster than Ansible`,
      met,
      runs,
      figures: {
        triageMs: round(triageMs),
        ansibleMs: round(ansibleMs),
        ratio: round(ratio, 1),
        completeReports: Math.min(...triage.map((t) => t.complete)),
        commandsPerHost,
        concurrency: CONCURRENCY,
      },
      summary: `${Math.min(...triage.map((t) => t.complete))}/${TARGETS} reports in ${fmtMs(triageMs)} vs Ansible ${fmtMs(ansibleMs)}: ${ratio.toFixed(1)}x`,
      notes,
    };
  } finally {
    recorder.stop();
    await sshd.close();
    await fleet.stop();
    await removeDir();
  }
}
