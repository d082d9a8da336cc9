// `npm run bench [-- --only NAME ...] [--runs N] [--readme]`: runs the benchmarks in order, writes
// bench/results/<name>.json and bench/results/machine.json, prints the table. With --readme it also
// rewrites the table in README.md's Performance section from every result file.
// Builds nothing: the npm script runs `npm run build` first, then `node --import tsx` on this file;
// not the tsx CLI, which SIGKILLs its child when Ctrl-C finds the child's event loop busy for 30 ms
// (100 investigations in flight), so the clean-up would not run.

import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import * as alertStorm from './alert-storm.js';
import * as bigProcess from './big-process.js';
import * as fleet from './fleet.js';
import { cleanupAll, ensurePrerequisites, handleSignals, machineInfo, type Machine } from './lib-env.js';
import type { BenchResult } from './result.js';
import * as singleInstance from './single-instance.js';
import * as slackAck from './slack-ack.js';
import * as timeToDiagnosis from './time-to-diagnosis.js';

interface Benchmark {
  name: string;
  run(opts: { runs: number }): Promise<BenchResult>;
  /** Starts sshd / logs in over SSH: needs the prerequisites checked first. */
  ssh: boolean;
}

const BENCHMARKS: Benchmark[] = [
  { name: 'single-instance', run: singleInstance.run, ssh: true },
  { name: 'big-process', run: bigProcess.run, ssh: false },
  { name: 'fleet', run: fleet.run, ssh: true },
  { name: 'alert-storm', run: alertStorm.run, ssh: false },
  { name: 'slack-ack', run: slackAck.run, ssh: false },
  { name: 'time-to-diagnosis', run: timeToDiagnosis.run, ssh: true },
];

const ROOT = join(import.meta.dirname, '..');
const RESULTS = join(ROOT, 'bench', 'results');
const README = join(ROOT, 'README.md');
const BEGIN = '<!-- bench:begin (npm run bench -- --readme rewrites this table) -->';
const END = '<!-- bench:end -->';
/** Each benchmark takes at least this many runs (the fleet 3); --runs asks for more. */
const DEFAULT_RUNS = 5;

interface Args {
  only: string[];
  runs: number;
  readme: boolean;
}

function usage(): string {
  return `usage: npm run bench [-- --only NAME ...] [--runs N] [--readme]\n  NAME: ${BENCHMARKS.map((b) => b.name).join(', ')}\n`;
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = { only: [], runs: DEFAULT_RUNS, readme: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--only') {
      while (argv[i + 1] !== undefined && !argv[i + 1]!.startsWith('--')) args.only.push(...argv[++i]!.split(',').filter(Boolean));
    } else if (a.startsWith('--only=')) {
      args.only.push(...a.slice('--only='.length).split(',').filter(Boolean));
    } else if (a === '--runs' || a.startsWith('--runs=')) {
      const v = a === '--runs' ? argv[++i] : a.slice('--runs='.length);
      if (v === undefined || !/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 100) throw new Error(`--runs must be a whole number from 1 to 100, got ${v ?? 'nothing'}`);
      args.runs = Number(v);
    } else if (a === '--readme') {
      args.readme = true;
    } else if (a === '--help' || a === '-h') {
      process.stdout.write(usage());
      process.exit(0);
    } else {
      throw new Error(`unknown argument ${a}`);
    }
  }
  const known = new Set(BENCHMARKS.map((b) => b.name));
  const unknown = args.only.filter((n) => !known.has(n));
  if (unknown.length) throw new Error(`unknown benchmark ${unknown.join(', ')}`);
  return args;
}

function failed(b: Benchmark, runs: number, err: unknown): BenchResult {
  const message = (err as Error)?.message ?? String(err);
  return {
    name: b.name,
    title: b.name,
    goal: '',
    met: false,
    runs,
    figures: {},
    summary: `did not complete: ${message.split('\n')[0]?.slice(0, 200)}`,
    notes: [`The benchmark failed: ${message.slice(0, 2000)}`],
  };
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function renderTable(results: readonly BenchResult[]): string {
  const rows = results.map((r) => `| ${cell(r.title)} | ${cell(r.goal || '—')} | ${cell(r.summary)} (median of ${r.runs}) | ${r.met ? 'yes' : '**no**'} |`);
  return ['| benchmark | goal | result | met |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

export function describeMachine(m: Machine & { loadAvg1?: number }): string {
  return `${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}, Linux ${m.kernel}, Node ${m.node}` + (m.loadAvg1 !== undefined ? `; load average ${m.loadAvg1} at the start` : '');
}

/** Every result file, in the runner's order, and the machine file. */
function readAll(): { results: BenchResult[]; machine: (Machine & { loadAvg1?: number }) | null } {
  const files = new Set(readdirSync(RESULTS));
  const results = BENCHMARKS.filter((b) => files.has(`${b.name}.json`)).map((b) => JSON.parse(readFileSync(join(RESULTS, `${b.name}.json`), 'utf8')) as BenchResult);
  const machine = files.has('machine.json') ? (JSON.parse(readFileSync(join(RESULTS, 'machine.json'), 'utf8')) as Machine & { loadAvg1?: number }) : null;
  return { results, machine };
}

function updateReadme(): void {
  const text = readFileSync(README, 'utf8');
  const a = text.indexOf(BEGIN);
  const b = text.indexOf(END);
  if (a < 0 || b < a) throw new Error(`README.md has no ${BEGIN} ... ${END} block to rewrite`);
  const { results, machine } = readAll();
  const block = [BEGIN, renderTable(results), '', `Measured on: ${machine ? `${describeMachine(machine)}, ${machine.date.slice(0, 10)}` : 'unknown'}.`, END].join('\n');
  writeFileSync(README, text.slice(0, a) + block + text.slice(b + END.length));
}

async function main(): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n${usage()}`);
    return 2;
  }
  handleSignals();
  const selected = BENCHMARKS.filter((b) => args.only.length === 0 || args.only.includes(b.name));
  const log = (line: string) => process.stderr.write(`${line}\n`);
  if (selected.some((b) => b.ssh)) {
    const pre = ensurePrerequisites(log);
    if (!pre.ok) {
      for (const p of pre.problems) log(`bench: ${p}`);
      return 1;
    }
  }
  mkdirSync(RESULTS, { recursive: true });
  // Written once the benchmarks have run (an interrupted invocation leaves the last one's), as of the start.
  const machine = { ...machineInfo(), loadAvg1: Math.round(loadavg()[0]! * 100) / 100, benchmarks: selected.map((b) => b.name) };
  log(`bench: ${selected.map((b) => b.name).join(', ')} on ${describeMachine(machine)}`);

  const results: BenchResult[] = [];
  let crashed = 0;
  const t0 = performance.now();
  for (const b of selected) {
    const s0 = performance.now();
    log(`bench: ${b.name} ...`);
    let result: BenchResult;
    try {
      result = await b.run({ runs: args.runs });
    } catch (err) {
      crashed++;
      result = failed(b, args.runs, err);
    } finally {
      await cleanupAll();
    }
    results.push(result);
    writeFileSync(join(RESULTS, `${b.name}.json`), `${JSON.stringify(result, null, 2)}\n`);
    log(`bench: ${b.name}: ${result.summary} — goal ${result.met ? 'met' : 'NOT met'} (${Math.round((performance.now() - s0) / 1000)} s)`);
  }
  writeFileSync(join(RESULTS, 'machine.json'), `${JSON.stringify(machine, null, 2)}\n`);
  process.stdout.write(`\n${renderTable(results)}\n\nMachine: ${describeMachine(machine)}; ${Math.round((performance.now() - t0) / 1000)} s in all.\n`);
  for (const r of results) {
    if (!r.notes?.length) continue;
    process.stdout.write(`\n${r.name}:\n${r.notes.map((n) => `  - ${n}`).join('\n')}\n`);
  }
  if (args.readme) {
    updateReadme();
    log('bench: README.md Performance table rewritten from bench/results/*.json');
  }
  return crashed > 0 ? 1 : 0;
}

const code = await main().catch(async (err: unknown) => {
  process.stderr.write(`bench: ${(err as Error)?.stack ?? String(err)}\n`);
  await cleanupAll();
  return 1;
});
process.exitCode = code;
// Whatever a benchmark left behind (a keep-alive socket, a timer) must not keep the runner alive.
setTimeout(() => process.exit(code), 3000).unref();
