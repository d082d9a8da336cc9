import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { ServiceConfig } from '../config.js';
import { InputError } from '../core/errors.js';

export const ACTION_KINDS = ['quarantine', 'unquarantine', 'restart'] as const;
export type ActionKind = (typeof ACTION_KINDS)[number];

/** One action on one instance, with the exact argv it will run: what an approval is bound to. */
export interface ActionRequest {
  incidentId: string;
  kind: ActionKind;
  service: string;
  host: string;
  address: string;
  port: number;
  argv: string[];
}

/** Values a template placeholder may take: names, addresses, ports, PIDs — nothing a shell or an option parser would read. */
const VALUE = {
  host: /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/,
  service: /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/,
  address: /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|[0-9A-Fa-f:.]+)$/,
  port: /^\d{1,5}$/,
  pid: /^\d{1,10}$/,
} as const;
export type TemplateVars = { [K in keyof typeof VALUE]?: string };

/**
 * Fills a command template (argv, from the config) with validated values. Each argv element stays
 * one argument; a value that does not match its pattern, or a placeholder without a value, refuses.
 */
export function renderCommand(template: readonly string[], vars: TemplateVars): string[] {
  return template.map((arg) =>
    arg.replace(/\{([a-z]+)\}/g, (_m, name: string) => {
      const pattern = (VALUE as Record<string, RegExp>)[name];
      const value = (vars as Record<string, string | undefined>)[name];
      if (!pattern) throw new InputError(`unknown placeholder {${name}}`);
      if (value === undefined) throw new InputError(`{${name}} has no value for this action`);
      if (!pattern.test(value)) throw new InputError(`{${name}} value is not allowed in a command`);
      return value;
    }),
  );
}

/** Builds the request for one action from the service's configured templates. */
export function actionFor(kind: ActionKind, incidentId: string, service: { name: string; config: ServiceConfig }, target: { host: string; address: string; port: number; pid?: number }): ActionRequest {
  const template = service.config.actions?.[kind];
  if (!template) throw new InputError(`service ${service.name} has no ${kind} command (services.${service.name}.actions.${kind})`);
  const argv = renderCommand(template, { host: target.host, address: target.address, port: String(target.port), service: service.name, ...(target.pid ? { pid: String(target.pid) } : {}) });
  return { incidentId, kind, service: service.name, host: target.host, address: target.address, port: target.port, argv };
}

/** The binding of an approval: incident, action, target and parameters. A click for anything else does not match. */
export function actionHash(a: ActionRequest): string {
  const canonical = JSON.stringify([a.incidentId, a.kind, a.service, a.host, a.address, a.port, a.argv]);
  return createHash('sha256').update(canonical).digest('hex').slice(0, 32);
}

/** `--dry-run`: exactly what would run, where. */
export function describeAction(a: ActionRequest): string {
  return `${a.kind} ${a.service} on ${a.host}:${a.port}: ${a.argv.map((x) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(x) ? x : JSON.stringify(x))).join(' ')}`;
}

export const SafetySchema = z
  .object({
    keepForEvidence: z.number().int().min(0).max(10).default(2).describe('quarantine up to this many affected instances to keep the scene'),
    maxShareAtOnce: z.number().min(0).max(1).default(0.5).describe('never act on more than this share of a service\'s instances at once'),
    restartsPerHour: z.number().int().min(0).default(4).describe('restart budget per service per hour'),
    breakerFailures: z.number().int().min(1).default(3).describe('refuse actions on a service after this many failed actions in an hour'),
  })
  .strict();
export type Safety = z.infer<typeof SafetySchema>;

export interface PlanInput {
  incidentId: string;
  service: { name: string; config: ServiceConfig };
  /** Affected instances, in the order they were diagnosed. */
  affected: { host: string; address: string; port: number; pid?: number }[];
  safety: Safety;
  restartsThisHour: number;
  failuresThisHour: number;
}

export interface Plan {
  actions: ActionRequest[];
  refused: { kind: ActionKind; host: string; reason: string }[];
}

/**
 * The write-up's plan: keep a couple of broken instances out of traffic for evidence (quarantine),
 * restart the others — within the share of the service that may be touched at once, the restart
 * budget and the circuit breaker. Pure.
 */
export function proposePlan(p: PlanInput): Plan {
  const total = p.service.config.instances.length;
  const maxAtOnce = Math.max(1, Math.floor(total * p.safety.maxShareAtOnce));
  const refused: Plan['refused'] = [];
  if (p.failuresThisHour >= p.safety.breakerFailures) {
    for (const a of p.affected) refused.push({ kind: 'restart', host: a.host, reason: `circuit breaker open: ${p.failuresThisHour} failed actions on ${p.service.name} in the last hour` });
    return { actions: [], refused };
  }
  const n = p.affected.length;
  // Keep the scene on up to K instances, but never all of them: with one, a snapshot keeps the evidence and it is restarted.
  const keep = Math.min(p.safety.keepForEvidence, Math.floor(n / 2));
  const actions: ActionRequest[] = [];
  let budget = Math.max(0, p.safety.restartsPerHour - p.restartsThisHour);
  p.affected.forEach((t, i) => {
    const kind: ActionKind = i < keep ? 'quarantine' : 'restart';
    if (actions.length >= maxAtOnce) return refused.push({ kind, host: t.host, reason: `would act on more than ${Math.round(p.safety.maxShareAtOnce * 100)}% of ${p.service.name}'s ${total} instances at once` });
    if (kind === 'restart' && budget <= 0) return refused.push({ kind, host: t.host, reason: `restart budget of ${p.safety.restartsPerHour} per hour for ${p.service.name} is used up` });
    if (!p.service.config.actions?.[kind]) return refused.push({ kind, host: t.host, reason: `no ${kind} command configured for ${p.service.name}` });
    actions.push(actionFor(kind, p.incidentId, p.service, t));
    if (kind === 'restart') budget--;
  });
  return { actions, refused };
}
