import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { Settings } from '../config.js';
import { InputError } from '../core/errors.js';
import { printable, type Target } from '../core/target.js';
import type { Executor } from '../integrations/exec/executor.js';
import { LocalExecutor } from '../integrations/exec/local.js';
import { SshExecutor, type SshEndpoint } from '../integrations/exec/ssh.js';
import { SudoExecutor } from '../integrations/exec/sudo.js';
import type { Net } from '../integrations/net/net.js';
import { NodeNet } from '../integrations/net/node-net.js';
import type { Report } from './report.js';
import { sortFindings } from './report.js';
import { runSteps, type RunEvent } from './run.js';
import type { RunbookDefinition, RunContext } from './runbook.js';

export interface InvestigateOptions {
  runbook: RunbookDefinition;
  target: Target;
  settings: Settings;
  /** Run the commands on this machine instead of over SSH. */
  local: boolean;
  samples?: number;
  intervalMs?: number;
  signal?: AbortSignal;
  onEvent?: (e: RunEvent) => void;
  onWarning?: (message: string) => void;
  /** Injected for tests; defaults to the real network. */
  net?: Net;
}

/** A target resolved against the inventory: where to connect and how. */
export interface ResolvedTarget {
  name: string;
  address: string;
  port: number;
  service: string | null;
  ssh: SshEndpoint | null;
}

const LOOPBACK = new Set(['localhost', 'ip6-localhost']);

export function isLocalAddress(host: string): boolean {
  if (LOOPBACK.has(host) || host.startsWith('127.') || host === '::1') return true;
  return Object.values(networkInterfaces()).some((list) => list?.some((i) => i.address === host));
}

/** Resolves a target: inventory hosts by name or address; with `local`, the host must be this machine. Refuses anything else. */
export function resolveTarget(target: Target, settings: Settings, local: boolean): ResolvedTarget {
  const { hosts, services } = settings.config;
  const entry = Object.hasOwn(hosts, target.host)
    ? ([target.host, hosts[target.host]] as const)
    : Object.entries(hosts).find(([, h]) => h.address === target.host);
  const name = entry?.[0] ?? target.host;
  const service = Object.entries(services).find(([, s]) => s.port === target.port && s.instances.includes(name))?.[0] ?? null;
  if (local) {
    const address = entry?.[1]?.address ?? target.host;
    if (!isLocalAddress(address)) {
      throw new InputError(`--local runs commands on this machine, but ${printable(target.host)} is not one of its addresses`, 'host_unknown');
    }
    return { name, address, port: target.port, service, ssh: null };
  }
  if (!entry?.[1]) {
    const known = Object.keys(hosts);
    throw new InputError(
      `host "${printable(target.host)}" is not in the inventory${known.length ? ` (known: ${known.slice(0, 10).join(', ')})` : settings.file ? '' : ': pass --config FILE, or --local for this machine'}`,
      'host_unknown',
    );
  }
  return { name, address: entry[1].address, port: target.port, service, ssh: endpointFor(name, settings, new Set()) };
}

function endpointFor(name: string, settings: Settings, seen: Set<string>): SshEndpoint {
  const host = settings.config.hosts[name];
  if (!host) throw new InputError(`host "${name}" is not in the inventory`, 'host_unknown');
  if (!host.ssh) throw new InputError(`host "${name}" has no ssh settings: add hosts.${name}.ssh, or run triage on it with --local`, 'config_invalid');
  if (seen.has(name)) throw new InputError(`jump host loop through ${name}`, 'config_invalid');
  seen.add(name);
  const ep: SshEndpoint = {
    name,
    address: host.address,
    port: host.ssh.port,
    user: host.ssh.user,
    hostKey: host.ssh.hostKey,
  };
  if (host.ssh.keyPath) ep.keyPath = host.ssh.keyPath;
  if (host.ssh.agent && settings.sshAuthSock) ep.agentSocket = settings.sshAuthSock;
  if (host.ssh.jumpHost) ep.jump = endpointFor(host.ssh.jumpHost, settings, seen);
  return ep;
}

export function executorFor(resolved: ResolvedTarget, settings: Settings, onWarning: (m: string) => void): Executor {
  const ssh = settings.config.ssh;
  if (!resolved.ssh) return new LocalExecutor(resolved.name, { timeoutMs: ssh.commandTimeoutMs, maxOutputBytes: ssh.maxOutputBytes });
  const exec = new SshExecutor(resolved.ssh, ssh, onWarning);
  return settings.config.hosts[resolved.name]?.ssh?.sudo ? new SudoExecutor(exec) : exec;
}

/** Runs a runbook against one target and assembles the report. Throws only when it could not run at all. */
export async function investigate(opts: InvestigateOptions): Promise<Report> {
  const { settings, runbook, target } = opts;
  const cfg = settings.config;
  const resolved = resolveTarget(target, settings, opts.local);
  const svc = resolved.service ? cfg.services[resolved.service] : undefined;
  const warnings: string[] = [];
  const warn = (m: string) => {
    warnings.push(m);
    opts.onWarning?.(m);
  };
  const ctx: RunContext = {
    host: resolved.name,
    address: resolved.address,
    port: resolved.port,
    service: resolved.service,
    probePath: cfg.investigation.probePath,
    probeAttempts: cfg.investigation.probeAttempts,
    probeTimeoutMs: cfg.investigation.probeTimeoutMs,
    logTailLines: cfg.investigation.logTailLines,
    accessLogs: svc?.logs?.access ?? [],
    errorLogs: svc?.logs?.error ?? [],
  };
  if (svc?.pool?.metricsUrl) ctx.metricsUrl = svc.pool.metricsUrl;
  if (svc?.pool?.expvarUrl) ctx.expvarUrl = svc.pool.expvarUrl;
  if (svc?.pool?.postgres) ctx.postgres = svc.pool.postgres;
  if (svc?.pool?.pgbouncer) ctx.pgbouncer = svc.pool.pgbouncer;
  if (cfg.prometheus) ctx.prometheusUrl = cfg.prometheus.url;

  const samples = opts.samples ?? cfg.investigation.samples;
  const intervalMs = opts.intervalMs ?? cfg.investigation.intervalMs;
  const exec = executorFor(resolved, settings, warn);
  const startedAt = new Date();
  const t0 = performance.now();
  let result;
  try {
    result = await runSteps(
      {
        steps: runbook.steps,
        samples,
        intervalMs,
        stepTimeoutMs: cfg.investigation.stepTimeoutMs,
        commandTimeoutMs: cfg.ssh.commandTimeoutMs,
        buildInput: (step, facts) => runbook.buildInput(ctx, step, facts),
      },
      { exec, net: opts.net ?? new NodeNet(), ...(opts.signal ? { signal: opts.signal } : {}), ...(opts.onEvent ? { onEvent: opts.onEvent } : {}) },
    );
  } finally {
    await exec.close();
  }
  // Nothing could be measured on the host: that is "could not run", not a report.
  if (exec instanceof SshExecutor && exec.unreachable) throw exec.unreachable;
  const probe = result.facts.probe;
  const diagnosis = runbook.diagnose(result.facts, result.steps, cfg.diagnosis.thresholds as Record<string, number>);
  return {
    runbook: runbook.id,
    target: {
      host: resolved.name,
      port: resolved.port,
      address: resolved.address,
      ...(result.facts.process ? { pid: result.facts.process.pid } : {}),
      ...(resolved.service ? { service: resolved.service } : {}),
      via: resolved.ssh ? 'ssh' : 'local',
    },
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    durationMs: Math.round(performance.now() - t0),
    sampling: { samples, intervalMs },
    symptom: probe ? { kind: probe.symptom, counts: probe.counts, url: probe.url } : { kind: null, reason: result.steps.find((s) => s.id === 'probe-http')?.error ?? 'not probed' },
    facts: result.facts,
    findings: sortFindings(result.findings),
    diagnosis,
    recommendations: runbook.recommend(diagnosis, result.facts),
    steps: result.steps,
    warnings,
  };
}

