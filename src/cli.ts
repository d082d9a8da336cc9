import { readFileSync } from 'node:fs';
import { setMaxListeners } from 'node:events';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { loadSettings, parseConfigText, type Env, type Settings } from './config.js';
import { InputError, TriageError } from './core/errors.js';
import { parseTarget, printable, terminalSafe } from './core/target.js';
import type { Report } from './engine/report.js';
import { ANSI, PLAIN, ProgressView, renderReport } from './integrations/chat/text-report.js';
import { isScenarioId, SCENARIO_IDS } from './lab/scenarios.js';
import { STACK_SCENARIO_IDS } from './lab/stacks/scenarios.js';
import { getRunbook, RUNBOOKS } from './runbooks/index.js';
import { actionFor, describeAction, type ActionKind } from './engine/actions.js';
import { executorFor, investigate, resolveTarget } from './engine/investigate.js';
import { runSteps } from './engine/run.js';
import { NodeNet } from './integrations/net/node-net.js';
import { processStep } from './steps/process.js';

// The service's stack (Slack, BullMQ, Redis), the lab and the postmortem are loaded by the commands
// that use them: `triage investigate` on a sick host should not carry them (they double its memory).

async function openStore(url: string, prefix: string) {
  const { RedisIncidentStore } = await import('./integrations/store/redis.js');
  const store = new RedisIncidentStore(url, prefix);
  try {
    await store.ready(5000);
  } catch {
    await store.close();
    throw new TriageError('command_failed', `Redis is not reachable at ${url.replace(/\/\/[^@]*@/, '//[REDACTED]@')}: start it, or set redis.url / REDIS_URL`);
  }
  return store;
}

/** Exit codes: 0 done (whatever was found), 1 could not run (unreachable, failed), 2 bad input. */
export const EXIT = { ok: 0, failed: 1, input: 2 } as const;

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
  isTTY: boolean;
  env: Env;
}

function intArg(name: string, min: number, max: number) {
  return (v: string): number => {
    if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`${name} must be a whole number`);
    const n = Number(v);
    if (n < min || n > max) throw new InvalidArgumentError(`${name} must be between ${min} and ${max}`);
    return n;
  };
}

export function buildProgram(io: Io, signal: AbortSignal): Command {
  const program = new Command('triage')
    .description('Runs incident runbooks against a service instance and reports what it measured.')
    .exitOverride()
    // Commander's errors quote the argument as typed: escaped, so the reason stays one printable line.
    .configureOutput({ writeOut: io.out, writeErr: io.err, outputError: (s, write) => write(`${printable(s.trimEnd().replace(/\n+/g, ' '), 500)}\n`) });
  const style = io.isTTY ? ANSI : PLAIN;
  const settingsFor = (file: string | undefined): Settings => loadSettings(file, io.env);

  program
    .command('investigate')
    .description('run a runbook against HOST:PORT and print the report')
    .argument('<runbook>', `runbook id (${Object.keys(RUNBOOKS).join(', ')})`)
    .argument('<target>', 'HOST:PORT — an inventory host name or address, or with --local this machine')
    .option('--local', 'run the commands on this machine instead of over SSH', false)
    .option('-c, --config <file>', 'config file (triage.config.yaml); optional with --local')
    .option('--json', 'print the report as JSON', false)
    .option('--samples <n>', 'samples of the counters', intArg('--samples', 1, 10))
    .option('--interval <ms>', 'milliseconds between samples', intArg('--interval', 1, 60_000))
    .action(async (runbookId: string, targetText: string, o: { local: boolean; config?: string; json: boolean; samples?: number; interval?: number }) => {
      const runbook = getRunbook(runbookId);
      const target = parseTarget(targetText);
      const settings = settingsFor(o.config);
      const progress = new ProgressView(io.err, io.isTTY, style);
      const report = await investigate({
        runbook,
        target,
        settings,
        local: o.local,
        ...(o.samples !== undefined ? { samples: o.samples } : {}),
        ...(o.interval !== undefined ? { intervalMs: o.interval } : {}),
        signal,
        onEvent: o.json && !io.isTTY ? undefined : (e) => progress.onEvent(e),
        onWarning: (m) => io.err(`warning: ${m}\n`),
      });
      io.out(o.json ? `${JSON.stringify(report, null, 2)}\n` : `\n${renderReport(report, style)}\n`);
    });

  const config = program.command('config').description('work with config files');
  config
    .command('check')
    .description('validate a config file and list every problem with its path')
    .argument('<file>')
    .action((file: string) => {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (err) {
        throw new InputError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, 'config_invalid');
      }
      const parsed = parseConfigText(text, file);
      if (parsed.ok) {
        const c = parsed.config;
        io.out(`${file}: ok (${Object.keys(c.hosts).length} hosts, ${Object.keys(c.services).length} services)\n`);
        return;
      }
      for (const p of parsed.problems) io.err(`${p}\n`);
      throw new InputError(`${file}: ${parsed.problems.length} problem${parsed.problems.length === 1 ? '' : 's'}`, 'config_invalid');
    });

  program
    .command('runbooks')
    .description('list the runbooks')
    .action(() => {
      for (const rb of Object.values(RUNBOOKS)) io.out(`${rb.id.padEnd(12)} ${rb.description} (steps: ${rb.steps.map((s) => s.id).join(', ')})\n`);
    });

  program
    .command('lab')
    .description('start the incident lab: a service that fails the way the write-up says, under load')
    .addOption(new Option('--scenario <id>', 'failure to reproduce').choices(SCENARIO_IDS).default('db-pool'))
    .option('--port <port>', 'port of the lab service', intArg('--port', 1, 65535), 2133)
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option('--nofile <n>', 'descriptor limit of the service', intArg('--nofile', 16, 1_048_576))
    .option('--pool-max <n>', 'DB pool maximum', intArg('--pool-max', 1, 10_000))
    .option('--rps <n>', 'load: new connections per second', intArg('--rps', 0, 100_000))
    .action(async (o: { scenario: string; port: number; host: string; nofile?: number; poolMax?: number; rps?: number }) => {
      if (!isScenarioId(o.scenario)) throw new InputError(`unknown scenario ${o.scenario}`);
      const { runLabCommand } = await import('./lab/run-lab.js');
      await runLabCommand({
        scenario: o.scenario,
        port: o.port,
        host: o.host,
        ...(o.nofile !== undefined ? { nofile: o.nofile } : {}),
        ...(o.poolMax !== undefined ? { poolMax: o.poolMax } : {}),
        ...(o.rps !== undefined ? { rps: o.rps } : {}),
        ...(io.env.DATABASE_URL ? { databaseUrl: io.env.DATABASE_URL } : {}),
        out: (line) => io.out(`${line}\n`),
        signal,
      });
    });

  program
    .command('demo')
    .description('start the lab, wait for the incident, investigate it locally, print the report, stop the lab')
    .option('--port <port>', 'port of the lab service (default: a free one)', intArg('--port', 1, 65535))
    .option('--json', 'print the report as JSON', false)
    .action(async (o: { port?: number; json: boolean }) => {
      const { runDemo } = await import('./lab/demo.js');
      const report: Report = await runDemo({
        ...(o.port !== undefined ? { port: o.port } : {}),
        settings: settingsFor(undefined),
        ...(io.env.DATABASE_URL ? { databaseUrl: io.env.DATABASE_URL } : {}),
        signal,
        out: (line) => io.err(`${line}\n`),
        onEvent: new ProgressView(io.err, io.isTTY, style),
      });
      io.out(o.json ? `${JSON.stringify(report, null, 2)}\n` : `\n${renderReport(report, style)}\n`);
    });

  program
    .command('shell')
    .description('the Slack conversation in a terminal: type "@triage connreset 127.0.0.1:2133", "status", "help"')
    .option('--local', 'investigate on this machine instead of over SSH', false)
    .option('-c, --config <file>', 'config file (triage.config.yaml)')
    .action(async (o: { local: boolean; config?: string }) => {
      const { runShell } = await import('./service/shell.js');
      await runShell({ settings: settingsFor(o.config), local: o.local || o.config === undefined, input: process.stdin, write: io.out, style, signal });
    });

  program
    .command('serve')
    .description('the bot as a service: webhooks, /healthz and /metrics on one port; stores incidents in Redis and enqueues investigations')
    .option('-c, --config <file>', 'config file (triage.config.yaml)')
    .action(async (o: { config?: string }) => {
      const { runServe } = await import('./service/run.js');
      await runServe(settingsFor(o.config), signal);
    });

  program
    .command('worker')
    .description('BullMQ workers that run the queued investigations; run any number, on any number of machines, against one Redis')
    .option('-c, --config <file>', 'config file (triage.config.yaml)')
    .action(async (o: { config?: string }) => {
      const { runWorker } = await import('./service/run.js');
      await runWorker(settingsFor(o.config), signal);
    });

  program
    .command('incidents')
    .description('list incidents from the Redis store, newest first')
    .option('-c, --config <file>', 'config file (triage.config.yaml)')
    .option('--open', 'only incidents not resolved', false)
    .option('--limit <n>', 'at most this many', intArg('--limit', 1, 10_000), 50)
    .option('--json', 'print JSON', false)
    .action(async (o: { config?: string; open: boolean; limit: number; json: boolean }) => {
      const cfg = settingsFor(o.config).config;
      const store = await openStore(cfg.redis.url, cfg.redis.prefix);
      try {
        const list = await store.list({ open: o.open, limit: o.limit });
        if (o.json) return io.out(`${JSON.stringify(list, null, 2)}\n`);
        if (list.length === 0) return io.out('no incidents\n');
        for (const i of list) {
          const root = i.report?.diagnosis.rootCause?.id ?? (i.error ? `error: ${i.error}` : '');
          // Stored text comes from alerts, hosts and logs: escaped for the terminal.
          io.out(`${terminalSafe(`${i.id}  ${i.status.padEnd(13)} ${i.runbook} ${i.target}  ${i.createdAt}  ${i.alerts.length} alert${i.alerts.length === 1 ? '' : 's'}  ${root}`)}\n`);
        }
        const unrouted = await store.listUnrouted(5);
        if (unrouted.length) io.out(`\n${unrouted.length} recent alert(s) matched no target, e.g. ${terminalSafe(`${unrouted[0]?.fingerprint}: ${unrouted[0]?.reason}`)}\n`);
      } finally {
        await store.close();
      }
    });

  program
    .command('incident')
    .description('one incident: its timeline and report')
    .argument('<id>')
    .option('-c, --config <file>', 'config file (triage.config.yaml)')
    .option('--json', 'print JSON', false)
    .option('--artifact <name>', 'print one piece of evidence kept with the incident (e.g. a forensic snapshot)')
    .action(async (id: string, o: { config?: string; json: boolean; artifact?: string }) => {
      if (!/^inc-[a-z0-9]+-[0-9a-f]+$/.test(id)) throw new InputError(`"${printable(id, 40)}" is not an incident id (inc-…)`);
      const cfg = settingsFor(o.config).config;
      const store = await openStore(cfg.redis.url, cfg.redis.prefix);
      try {
        const incident = await store.get(id);
        if (!incident) throw new TriageError('not_found', `no incident ${id}`);
        if (o.artifact !== undefined) {
          const content = await store.getArtifact(id, o.artifact);
          if (content === null) throw new TriageError('not_found', `no artifact ${printable(o.artifact, 80)} (kept: ${(await store.listArtifacts(id)).join(', ') || 'none'})`);
          // On a terminal, escapes from the host's logs are shown, not obeyed; piped, the bytes as kept.
          const shown = io.isTTY ? terminalSafe(content, true) : content;
          return io.out(shown.endsWith('\n') ? shown : `${shown}\n`);
        }
        const timeline = await store.timeline(id);
        if (o.json) return io.out(`${JSON.stringify({ incident, timeline, artifacts: await store.listArtifacts(id) }, null, 2)}\n`);
        io.out(`${style.bold(`${incident.id}`)} ${incident.status} — ${incident.runbook} on ${incident.target}, opened ${incident.createdAt}\n`);
        if (incident.error) io.out(`${style.red(`error: ${terminalSafe(incident.error)}`)}\n`);
        const artifacts = await store.listArtifacts(id);
        if (artifacts.length) io.out(`evidence kept: ${artifacts.join(', ')} (triage incident ${id} --artifact NAME)\n`);
        io.out(`\n${style.bold('Timeline')}\n`);
        for (const e of timeline) io.out(`  ${terminalSafe(`${e.at}  ${e.type.padEnd(22)} ${e.message}`)}\n`);
        if (incident.report) io.out(`\n${renderReport(incident.report, style)}\n`);
      } finally {
        await store.close();
      }
    });

  program
    .command('action')
    .description('show exactly what an action would run (--dry-run); actions themselves run only after an approval in chat')
    .addOption(new Option('--kind <kind>', 'the action').choices(['quarantine', 'unquarantine', 'restart']).makeOptionMandatory())
    .argument('<target>', 'HOST:PORT of an instance of a configured service')
    .option('-c, --config <file>', 'config file (triage.config.yaml)')
    .option('--dry-run', 'print the command and where it would run; run nothing', false)
    .action(async (targetText: string, o: { kind: ActionKind; config?: string; dryRun: boolean }) => {
      if (!o.dryRun) throw new InputError('actions run only after a human approves them (Slack buttons or triage shell); use --dry-run to see the command');
      const settings = settingsFor(o.config);
      const resolved = resolveTarget(parseTarget(targetText), settings, false);
      const svc = resolved.service ? settings.config.services[resolved.service] : undefined;
      if (!resolved.service || !svc) throw new InputError(`${resolved.name}:${resolved.port} is not an instance of a configured service`);
      let pid: number | undefined;
      if (svc.actions?.[o.kind]?.some((a) => a.includes('{pid}'))) {
        // The PID is looked up read-only, as the investigation does, so the command shown is the one that would run.
        const found = await runSteps(
          { steps: [processStep], samples: 1, intervalMs: 0, stepTimeoutMs: 15_000, commandTimeoutMs: settings.config.ssh.commandTimeoutMs, buildInput: () => ({ port: resolved.port }) },
          { exec: executorFor(resolved, settings, (m) => io.err(`warning: ${m}\n`)), net: new NodeNet(), signal },
        );
        pid = found.facts.process?.pid;
        if (pid === undefined) throw new TriageError('not_found', `no process listens on ${resolved.name}:${resolved.port}: ${found.steps[0]?.error ?? 'nothing listening'}`);
      }
      const action = actionFor(o.kind, 'dry-run', { name: resolved.service, config: svc }, { host: resolved.name, address: resolved.address, port: resolved.port, ...(pid ? { pid } : {}) });
      io.out(`dry run: on ${resolved.name} (${resolved.address}) over SSH as ${settings.config.hosts[resolved.name]?.ssh?.user ?? '?'} would run:\n  ${describeAction(action)}\n`);
    });

  program
    .command('postmortem')
    .description('draft the postmortem of an incident from its timeline, findings and diagnosis')
    .argument('<id>')
    .option('-c, --config <file>', 'config file (triage.config.yaml)')
    .addOption(new Option('--format <format>', 'output format').choices(['md', 'json']).default('md'))
    .action(async (id: string, o: { config?: string; format: 'md' | 'json' }) => {
      if (!/^inc-[a-z0-9]+-[0-9a-f]+$/.test(id)) throw new InputError(`"${printable(id, 40)}" is not an incident id (inc-…)`);
      const cfg = settingsFor(o.config).config;
      const store = await openStore(cfg.redis.url, cfg.redis.prefix);
      try {
        const incident = await store.get(id);
        if (!incident) throw new TriageError('not_found', `no incident ${id}`);
        const { draftPostmortem } = await import('./postmortem/index.js');
        const pm = draftPostmortem({ incident, timeline: await store.timeline(id), now: new Date() });
        io.out(o.format === 'json' ? `${JSON.stringify(pm.json, null, 2)}\n` : pm.markdown.endsWith('\n') ? pm.markdown : `${pm.markdown}\n`);
      } finally {
        await store.close();
      }
    });

  program
    .command('eval')
    .description('run every lab and real-stack scenario (Go, Java, Node services against PostgreSQL) on a fresh lab, investigate it, and print what was diagnosed against what was expected, with any claim no fact backs')
    .addOption(new Option('--scenario <id...>', 'only these scenarios (lab and real-stack)').choices([...SCENARIO_IDS, ...STACK_SCENARIO_IDS]))
    .option('--json', 'print the rows as JSON', false)
    .action(async (o: { scenario?: string[]; json: boolean }) => {
      const { renderEvalTable, runEval } = await import('./lab/eval.js');
      const rows = await runEval({
        scenarios: o.scenario ?? [...SCENARIO_IDS, ...STACK_SCENARIO_IDS],
        settings: settingsFor(undefined),
        signal,
        out: (line) => io.err(`${line}\n`),
      });
      io.out(o.json ? `${JSON.stringify(rows, null, 2)}\n` : `${renderEvalTable(rows)}\n`);
      if (rows.some((r) => !r.pass)) throw new TriageError('command_failed', `${rows.filter((r) => !r.pass).length} of ${rows.length} scenarios were not diagnosed as expected`);
    });

  return program;
}

/** Runs the CLI; returns the exit code. Every error becomes one line on stderr. */
export async function main(argv: readonly string[], io: Io): Promise<number> {
  const controller = new AbortController();
  // one listener per step, probe and fetch of a long `eval` run; they are removed as each finishes
  setMaxListeners(100, controller.signal);
  const onSigint = () => controller.abort();
  process.once('SIGINT', onSigint);
  process.once('SIGTERM', onSigint);
  try {
    await buildProgram(io, controller.signal).parseAsync(argv as string[], { from: 'user' });
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? EXIT.ok : EXIT.input;
    }
    if (err instanceof TriageError) {
      io.err(`triage: ${err.message}\n`);
      if (err instanceof InputError || err.code === 'config_invalid' || err.code === 'input_invalid' || err.code === 'host_unknown' || err.code === 'runbook_unknown') return EXIT.input;
      return EXIT.failed;
    }
    io.err(`triage: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`);
    return EXIT.failed;
  } finally {
    process.removeListener('SIGINT', onSigint);
    process.removeListener('SIGTERM', onSigint);
  }
}

const isEntry = process.argv[1] !== undefined && /(?:^|\/)(?:cli\.js|triage(?:\.js)?)$/.test(process.argv[1]);
if (isEntry) {
  const code = await main(process.argv.slice(2), {
    out: (s) => process.stdout.write(s),
    err: (s) => process.stderr.write(s),
    isTTY: Boolean(process.stderr.isTTY),
    env: process.env,
  });
  process.exitCode = code;
  // Everything is closed by now; this only guards against a stray handle keeping the CLI alive.
  setTimeout(() => process.exit(code), 2000).unref();
}
