import type { Config, Route } from '../../config.js';
import { InputError } from '../../core/errors.js';
import { parseTarget, printable } from '../../core/target.js';
import type { AlertEvent, RouteResult } from './types.js';

type Inventory = Pick<Config, 'hosts' | 'services'>;

/** Compiled route regexes, by source text; `null` remembers an invalid one (it never matches). */
const regexCache = new Map<string, RegExp | null>();
const REGEX_CACHE_MAX = 1000;

function compile(source: string): RegExp | null {
  const cached = regexCache.get(source);
  if (cached !== undefined) return cached;
  let re: RegExp | null;
  try {
    re = new RegExp(`^(?:${source})$`);
  } catch {
    re = null;
  }
  if (regexCache.size >= REGEX_CACHE_MAX) regexCache.clear();
  regexCache.set(source, re);
  return re;
}

/** A label's value; a missing label reads as "" as in Alertmanager's matchers. */
function label(labels: Record<string, string>, name: string): string {
  if (!Object.hasOwn(labels, name)) return '';
  const v = labels[name];
  return typeof v === 'string' ? v : '';
}

/** True when every equality and every (anchored) regex of the route holds. Only config text becomes a regex. */
export function routeMatches(route: Route, labels: Record<string, string>): boolean {
  for (const [name, want] of Object.entries(route.match ?? {})) {
    if (label(labels, name) !== want) return false;
  }
  for (const [name, source] of Object.entries(route.matchRegex ?? {})) {
    const re = compile(source);
    if (re === null || !re.test(label(labels, name))) return false;
  }
  return true;
}

/** The inventory name for a host given by name or address (addresses compared case-insensitively). */
function inventoryHosts(config: Inventory, host: string): string[] {
  if (Object.hasOwn(config.hosts, host)) return [host];
  const wanted = host.toLowerCase();
  return Object.entries(config.hosts)
    .filter(([, h]) => h.address.toLowerCase() === wanted)
    .map(([name]) => name);
}

function servicesOn(config: Inventory, hostName: string, port: number): string[] {
  return Object.entries(config.services)
    .filter(([, s]) => s.port === port && s.instances.includes(hostName))
    .map(([name]) => name);
}

function parsePort(text: string): number | null {
  const t = text.trim();
  if (!/^\d{1,5}$/.test(t)) return null;
  const n = Number(t);
  return n >= 1 && n <= 65535 ? n : null;
}

type Resolved = { ok: true; host: string; port: number; service: string | null } | { ok: false; reason: string };

/** Puts host and port into the inventory: the host's name, and the service listening there if any. */
function resolveInInventory(config: Inventory, host: string, port: number, service?: string): Resolved {
  let names = inventoryHosts(config, host);
  if (names.length === 0) return { ok: false, reason: `host "${printable(host)}" is not in the inventory` };
  if (service !== undefined) {
    const svc = config.services[service];
    names = names.filter((n) => svc?.instances.includes(n));
    if (names.length === 0) return { ok: false, reason: `host "${printable(host)}" is not an instance of service "${printable(service)}"` };
  } else if (names.length > 1) {
    // Several inventory entries share the address: prefer the ones running a service on that port.
    const withService = names.filter((n) => servicesOn(config, n, port).length > 0);
    if (withService.length > 0) names = withService;
  }
  if (names.length > 1) return { ok: false, reason: `host "${printable(host)}" is ambiguous in the inventory: ${names.slice(0, 5).join(', ')}` };
  const name = names[0] as string;
  return { ok: true, host: name, port, service: service ?? servicesOn(config, name, port)[0] ?? null };
}

function resolveTarget(route: Route, labels: Record<string, string>, config: Inventory): Resolved {
  const t = route.target ?? { instanceLabel: 'instance' };
  if (t.hostLabel !== undefined) {
    const host = label(labels, t.hostLabel).trim();
    if (host === '') return { ok: false, reason: `label ${printable(t.hostLabel)} (host) is missing or empty` };
    if (t.portLabel !== undefined) {
      const raw = label(labels, t.portLabel);
      if (raw === '') return { ok: false, reason: `label ${printable(t.portLabel)} (port) is missing or empty` };
      const port = parsePort(raw);
      if (port === null) return { ok: false, reason: `label ${printable(t.portLabel)}: "${printable(raw)}" is not a port: expected 1-65535` };
      return resolveInInventory(config, host, port);
    }
    if (t.serviceLabel !== undefined) {
      const name = label(labels, t.serviceLabel);
      if (name === '') return { ok: false, reason: `label ${printable(t.serviceLabel)} (service) is missing or empty` };
      const svc = Object.hasOwn(config.services, name) ? config.services[name] : undefined;
      if (svc === undefined) return { ok: false, reason: `service "${printable(name)}" is not in the inventory` };
      return resolveInInventory(config, host, svc.port, name);
    }
    return { ok: false, reason: `route for runbook ${printable(route.runbook)}: target.hostLabel needs portLabel or serviceLabel` };
  }
  const instanceLabel = t.instanceLabel ?? 'instance';
  const instance = label(labels, instanceLabel);
  if (instance === '') return { ok: false, reason: `label ${printable(instanceLabel)} (host:port) is missing or empty` };
  let parsed: { host: string; port: number };
  try {
    parsed = parseTarget(instance);
  } catch (err) {
    if (err instanceof InputError) return { ok: false, reason: `label ${printable(instanceLabel)}: ${err.message}` };
    return { ok: false, reason: `label ${printable(instanceLabel)}: not a HOST:PORT target` };
  }
  return resolveInInventory(config, parsed.host, parsed.port);
}

/**
 * Picks the first route whose matchers hold and resolves its target against the inventory.
 * Label values are hostile input: they are compared, parsed strictly and printed escaped, never
 * compiled into a regex or used as keys beyond own-property lookups. Never throws.
 */
export function routeAlert(alert: AlertEvent, routes: Route[], config: Inventory): RouteResult {
  try {
    return route(alert, routes, config);
  } catch (err) {
    // Not expected (inputs are typed and validated); a routing failure must still not take the server down.
    return { ok: false, reason: `routing failed: ${printable(err instanceof Error ? err.message : String(err), 120)}` };
  }
}

function route(alert: AlertEvent, routes: Route[], config: Inventory): RouteResult {
  const labels = alert.labels;
  const matched = routes.find((r) => routeMatches(r, labels));
  if (matched === undefined) {
    const name = Object.hasOwn(labels, 'alertname') ? `alertname=${printable(label(labels, 'alertname'))}` : 'alertname=(none)';
    return { ok: false, reason: `no route matches ${name}` };
  }
  const target = resolveTarget(matched, labels, config);
  if (!target.ok) return target;
  return { ok: true, runbook: matched.runbook, target: { host: target.host, port: target.port }, service: target.service };
}
