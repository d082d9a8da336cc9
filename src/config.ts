import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { resolve, dirname } from 'node:path';
import safeRegex from 'safe-regex2';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { InputError, TriageError } from './core/errors.js';
import { printable } from './core/target.js';
import { SafetySchema } from './engine/actions.js';
import { ThresholdsSchema } from './runbooks/connreset-rules.js';
import { RUNBOOKS } from './runbooks/index.js';

/** Names of hosts and services: what may appear in a target and, later, in a command template. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const NAME_RULE = 'expected a name of letters, digits, ".", "_" or "-" (at most 63)';
const Name = z.string().regex(NAME_PATTERN, NAME_RULE);

/** A DNS name or an IP address: nothing a shell or ssh would read as an option or metacharacter. */
const Address = z
  .string()
  .min(1)
  .max(253)
  .regex(/^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|[0-9A-Fa-f:.]+)$/, 'expected a hostname or IP address');

const Port = z.number().int().min(1).max(65535);
const Duration = z.number().int().positive();

/** Placeholders a command template may use; values are validated before substitution. */
export const TEMPLATE_PLACEHOLDERS = ['host', 'address', 'port', 'pid', 'service'] as const;
const CommandTemplate = z
  .array(z.string().min(1).max(500))
  .min(1)
  .superRefine((argv, ctx) => {
    argv.forEach((arg, i) => {
      for (const m of arg.matchAll(/\{([^}]*)\}/g)) {
        if (!(TEMPLATE_PLACEHOLDERS as readonly string[]).includes(m[1] ?? '')) {
          ctx.addIssue({ code: 'custom', path: [i], message: `unknown placeholder {${printable(m[1] ?? '', 40)}} (allowed: ${TEMPLATE_PLACEHOLDERS.join(', ')})` });
        }
      }
    });
  })
  .describe('argv of a remote command; each element is one argument, never parsed by a shell');

const HostKeySchema = z
  .object({
    fingerprint: z.string().regex(/^SHA256:[A-Za-z0-9+/]{43}=?$/, 'expected SHA256:<base64> as ssh-keygen -lf prints it').optional(),
    knownHosts: z.string().optional().describe('path of a known_hosts file'),
    acceptNew: z.boolean().default(false).describe('lab only: accept any host key; never use in production'),
  })
  .strict()
  .refine((k) => k.fingerprint !== undefined || k.knownHosts !== undefined || k.acceptNew, {
    message: 'set fingerprint, knownHosts, or (lab only) acceptNew: true',
  });

export const HostSchema = z
  .object({
    address: Address.describe('DNS name or IP the bot connects to'),
    ssh: z
      .object({
        port: Port.default(22),
        user: z.string().regex(/^[a-z_][a-z0-9_.-]{0,31}$/, 'expected a Unix user name'),
        keyPath: z.string().optional().describe('private key file; ~ is expanded'),
        agent: z.boolean().default(false).describe('use the SSH agent at SSH_AUTH_SOCK'),
        jumpHost: Name.optional().describe('name of another inventory host to tunnel through'),
        hostKey: HostKeySchema,
        sudo: z
          .boolean()
          .default(false)
          .describe("read the service's /proc/PID files, ss -p and pmap through sudo -n (the rules in SECURITY.md), when the SSH user is not the service's user"),
      })
      .strict()
      .refine((s) => s.keyPath !== undefined || s.agent, { message: 'set keyPath or agent: true' })
      .optional()
      .describe('how to reach the host; without it the host can only be investigated with --local on it'),
  })
  .strict();
export type HostConfig = z.infer<typeof HostSchema>;

const PoolSourceSchema = z
  .object({
    metricsUrl: z.string().url().optional().describe('Prometheus text endpoint with go_sql_*/hikaricp_*/pg pool series (else /metrics and /actuator/prometheus on the service port are tried)'),
    expvarUrl: z.string().url().optional().describe('Go expvar JSON endpoint with DBStats'),
    postgres: z
      .object({ dsn: z.string().min(1), maxConnections: z.number().int().positive().optional() })
      .strict()
      .optional()
      .describe('server side: pg_stat_activity vs max_connections, read with psql on the host'),
    pgbouncer: z
      .object({
        dsn: z.string().min(1).describe("DSN of pgbouncer's admin console, e.g. postgres://stats@127.0.0.1:6432/pgbouncer"),
        database: z.string().min(1).max(200).optional().describe("this service's database in SHOW POOLS (default: the pool with the most waiting clients)"),
      })
      .strict()
      .optional()
      .describe('pgbouncer in front of the database: SHOW POOLS (cl_waiting, sv_active), read with psql on the host'),
  })
  .strict();

export const ServiceSchema = z
  .object({
    port: Port,
    instances: z.array(Name).min(1).describe('host names from `hosts`'),
    logs: z
      .object({ access: z.array(z.string().startsWith('/')).default([]), error: z.array(z.string().startsWith('/')).default([]) })
      .strict()
      .optional(),
    pool: PoolSourceSchema.optional(),
    actions: z
      .object({ restart: CommandTemplate.optional(), quarantine: CommandTemplate.optional(), unquarantine: CommandTemplate.optional() })
      .strict()
      .optional(),
  })
  .strict();
export type ServiceConfig = z.infer<typeof ServiceSchema>;

export const InvestigationSchema = z
  .object({
    samples: z.number().int().min(1).max(10).default(2),
    intervalMs: Duration.max(60_000).default(2000),
    stepTimeoutMs: Duration.default(20_000),
    probeAttempts: z.number().int().min(1).max(50).default(5),
    probeTimeoutMs: Duration.default(3000),
    probePath: z.string().startsWith('/').default('/'),
    logTailLines: z.number().int().min(10).max(5000).default(2000).describe('lines read from the end of each log file; the report keeps the last 200 and the errors and pool-stats lines before them'),
  })
  .strict();
export type InvestigationConfig = z.infer<typeof InvestigationSchema>;

export const SshTuningSchema = z
  .object({
    maxConcurrentCommands: z.number().int().min(1).max(64).default(8).describe('keep below sshd MaxSessions (default 10)'),
    commandTimeoutMs: Duration.default(10_000),
    connectTimeoutMs: Duration.default(10_000),
    maxOutputBytes: z.number().int().min(1024).default(1024 * 1024),
    keepaliveIntervalMs: z.number().int().min(0).default(5000),
  })
  .strict();

/** A secret: literal, or `env:NAME` resolved from the environment when the config is loaded. */
const Secret = z.string().min(1).describe('a literal, or env:NAME to read it from the environment');

export const WebhookAuthSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('bearer'), token: Secret }).strict(),
  z.object({ type: z.literal('basic'), username: z.string().min(1), password: Secret }).strict(),
  z
    .object({
      type: z.literal('hmac'),
      secret: Secret,
      header: z.string().default('X-Grafana-Alerting-Signature'),
      timestampHeader: z.string().default('X-Grafana-Alerting-Signature-Timestamp'),
      maxSkewSec: z.number().int().positive().default(300),
    })
    .strict(),
]);
export type WebhookAuth = z.infer<typeof WebhookAuthSchema>;

/** A label regex of a route: it must compile, and must not backtrack exponentially on a crafted label. */
const LabelRegex = z.string().superRefine((source, ctx) => {
  const anchored = `^(?:${source})$`;
  try {
    new RegExp(anchored);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `not a regular expression: ${printable((err as Error).message.replace(/^Invalid regular expression: /, ''), 120)}` });
    return;
  }
  if (!safeRegex(anchored)) {
    ctx.addIssue({
      code: 'custom',
      message: 'a repetition inside a repeated group, like (a+)+ or (a|aa)*: a crafted label value would stall the webhook; write it without the nested repetition',
    });
  }
});

export const RouteSchema = z
  .object({
    match: z.record(z.string(), z.string()).default({}).describe('label equality; all must match'),
    matchRegex: z.record(z.string(), LabelRegex).default({}).describe('label regular expressions (anchored); all must match; no nested repetition'),
    runbook: z.string().min(1),
    target: z
      .object({
        instanceLabel: z.string().default('instance').describe('label holding host:port'),
        hostLabel: z.string().optional().describe('label holding the host (name or address), with portLabel or service'),
        portLabel: z.string().optional(),
        serviceLabel: z.string().optional().describe('label naming a service of the inventory; with hostLabel picks the instance'),
      })
      .strict()
      .default({ instanceLabel: 'instance' }),
  })
  .strict();
export type Route = z.infer<typeof RouteSchema>;

export const ConfigSchema = z
  .object({
    // Keys are checked in crossReferenceProblems, so a badly named entry's fields are still validated.
    hosts: z.record(z.string(), HostSchema).default({}),
    services: z.record(z.string(), ServiceSchema).default({}),
    prometheus: z.object({ url: z.string().url() }).strict().optional(),
    investigation: InvestigationSchema.default(InvestigationSchema.parse({})),
    ssh: SshTuningSchema.default(SshTuningSchema.parse({})),
    redis: z
      .object({ url: z.string().default('redis://127.0.0.1:6379'), prefix: z.string().regex(/^[A-Za-z0-9_-]+$/).default('triage') })
      .strict()
      .default({ url: 'redis://127.0.0.1:6379', prefix: 'triage' }),
    server: z
      .object({
        host: z.string().default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(8080),
        shutdownTimeoutMs: Duration.default(10_000),
        maxBodyBytes: z.number().int().positive().default(1024 * 1024),
        apiToken: Secret.optional().describe('bearer token for GET /incidents/ID/postmortem.md'),
      })
      .strict()
      .default({ host: '127.0.0.1', port: 8080, shutdownTimeoutMs: 10_000, maxBodyBytes: 1024 * 1024 }),
    worker: z
      .object({
        concurrency: z.number().int().min(1).max(64).default(4),
        lockDurationMs: Duration.default(30_000),
        stalledIntervalMs: Duration.default(30_000),
        shutdownTimeoutMs: Duration.default(30_000),
        metricsPort: z.number().int().min(0).max(65535).optional().describe('serve /metrics and /healthz of this worker on this port (127.0.0.1 unless metricsHost)'),
        metricsHost: z.string().default('127.0.0.1'),
      })
      .strict()
      .default({ concurrency: 4, lockDurationMs: 30_000, stalledIntervalMs: 30_000, shutdownTimeoutMs: 30_000, metricsHost: '127.0.0.1' }),
    webhooks: z
      .object({
        alertmanager: z.object({ auth: WebhookAuthSchema }).strict().optional(),
        grafana: z.object({ auth: WebhookAuthSchema }).strict().optional(),
        generic: z
          .object({
            auth: WebhookAuthSchema,
            mapping: z
              .object({
                alerts: z.string().default('alerts').describe('dot path of the alert list (or "." for one alert per request)'),
                fingerprint: z.string().default('fingerprint'),
                status: z.string().default('status'),
                startsAt: z.string().default('startsAt'),
                labels: z.string().default('labels'),
                annotations: z.string().default('annotations'),
              })
              .strict()
              .default({ alerts: 'alerts', fingerprint: 'fingerprint', status: 'status', startsAt: 'startsAt', labels: 'labels', annotations: 'annotations' }),
          })
          .strict()
          .optional(),
      })
      .strict()
      .default({}),
    routes: z.array(RouteSchema).default([]),
    slack: z
      .object({
        mode: z.enum(['http', 'socket']).default('http').describe('http: events on serve\'s port at /slack/events; socket: Socket Mode (app-level token), for bots behind a firewall'),
        botToken: Secret.describe('xoxb-…'),
        signingSecret: Secret.optional().describe('http mode'),
        appToken: Secret.optional().describe('socket mode: xapp-…'),
        apiUrl: z.string().url().optional().describe('Slack Web API base URL; only for tests against an emulator'),
        alertChannel: z.string().regex(/^[A-Z0-9]{6,}$/, 'expected a channel id like C0123456').optional().describe('where alert-triggered incidents open their thread'),
        progressEditIntervalMs: z.number().int().min(0).default(1000).describe('at most one edit of the progress message this often (chat.update is rate limited)'),
      })
      .strict()
      .refine((s) => (s.mode === 'http' ? s.signingSecret !== undefined : s.appToken !== undefined), { message: 'http mode needs signingSecret; socket mode needs appToken' })
      .optional(),
    safety: SafetySchema.default(SafetySchema.parse({})),
    approvals: z
      .object({
        approvers: z.array(z.string().regex(/^[UW][A-Z0-9]{2,}$/, 'expected a Slack user id like U0123ABCD')).default([]).describe('who may approve actions; nobody when empty'),
        approverGroups: z.array(z.string().regex(/^S[A-Z0-9]{2,}$/, 'expected a Slack user group id like S0123ABCD')).default([]).describe('members of these user groups may approve too'),
        twoPersonRule: z.boolean().default(false).describe('the one who asked may not approve'),
        ttlMinutes: z.number().int().min(1).max(24 * 60).default(15),
        sweepIntervalMs: Duration.default(30_000).describe('how often expired approvals lose their buttons'),
      })
      .strict()
      .default({ approvers: [], approverGroups: [], twoPersonRule: false, ttlMinutes: 15, sweepIntervalMs: 30_000 }),
    recovery: z
      .object({
        timeoutMs: Duration.default(60_000).describe('give up verifying recovery after this'),
        intervalMs: Duration.default(1000),
        probes: z.number().int().min(1).max(20).default(3).describe('concurrent probes of a round; recovered when a whole round answers'),
      })
      .strict()
      .default({ timeoutMs: 60_000, intervalMs: 1000, probes: 3 }),
    diagnosis: z
      .object({ thresholds: ThresholdsSchema.partial().default({}).describe('overrides of the rules\' named thresholds') })
      .strict()
      .default({ thresholds: {} }),
    log: z.object({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'silent']).default('info') }).strict().default({ level: 'info' }),
  })
  .strict();
export type Config = z.infer<typeof ConfigSchema>;

/** The environment variables triage reads; nothing else in the code base looks at process.env. */
export interface Env {
  TRIAGE_LOG_LEVEL?: string;
  REDIS_URL?: string;
  SSH_AUTH_SOCK?: string;
  DATABASE_URL?: string;
  HOME?: string;
  [key: string]: string | undefined;
}

/** Everything the rest of the program needs, resolved once. */
export interface Settings {
  config: Config;
  /** Where the config came from, or null for the embedded default. */
  file: string | null;
  sshAuthSock: string | undefined;
  databaseUrl: string | undefined;
  /** `env:NAME` secrets whose variable is not set; commands that need them refuse to start. */
  missingSecrets?: string[];
}

export function formatIssues(error: z.ZodError): string[] {
  return error.issues.flatMap((issue) => {
    // Keys are the file's text: escaped, so a problem is one printable line.
    const path = issue.path.map((p) => printable(String(p))).join('.');
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((k) => `${path ? `${path}.` : ''}${printable(k)}: unknown field`);
    }
    return [path ? `${path}: ${issue.message}` : issue.message];
  });
}

/** Short messages in the user's terms: `expected integer, got string` rather than zod's defaults. */
const configErrors: z.core.$ZodErrorMap = (issue) => {
  if (issue.code === 'invalid_type') {
    const got = issue.input === undefined ? 'nothing' : Array.isArray(issue.input) ? 'a list' : issue.input === null ? 'null' : typeof issue.input;
    return issue.input === undefined ? `required (${issue.expected})` : `expected ${issue.expected}, got ${got}`;
  }
  if (issue.code === 'too_small' && issue.origin === 'number') return `must be at least ${String(issue.minimum)}`;
  if (issue.code === 'too_big' && issue.origin === 'number') return `must be at most ${String(issue.maximum)}`;
  return undefined;
};

/** Inventory references checked on the raw document, so they are reported even when other fields are invalid. */
function crossReferenceProblems(raw: unknown): string[] {
  const problems: string[] = [];
  const obj = (v: unknown): Record<string, unknown> => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
  const root = obj(raw);
  const hosts = obj(root.hosts);
  for (const section of ['hosts', 'services'] as const) {
    for (const key of Object.keys(obj(root[section]))) {
      if (!NAME_PATTERN.test(key)) problems.push(`${section}.${printable(key)}: ${NAME_RULE}`);
    }
  }
  for (const [name, svc] of Object.entries(obj(root.services))) {
    const instances = obj(svc).instances;
    if (!Array.isArray(instances)) continue;
    instances.forEach((h, i) => {
      if (typeof h === 'string' && !Object.hasOwn(hosts, h)) problems.push(`services.${printable(name)}.instances.${i}: host "${printable(h)}" is not in hosts`);
    });
  }
  for (const [name, host] of Object.entries(hosts)) {
    const jump = obj(obj(host).ssh).jumpHost;
    if (typeof jump !== 'string') continue;
    if (jump === name) problems.push(`hosts.${printable(name)}.ssh.jumpHost: a host cannot be its own jump host`);
    else if (!Object.hasOwn(hosts, jump)) problems.push(`hosts.${printable(name)}.ssh.jumpHost: host "${printable(jump)}" is not in hosts`);
  }
  (Array.isArray(root.routes) ? root.routes : []).forEach((r, i) => {
    const runbook = obj(r).runbook;
    if (typeof runbook === 'string' && runbook !== '' && !Object.hasOwn(RUNBOOKS, runbook)) {
      problems.push(`routes.${i}.runbook: unknown runbook "${printable(runbook)}" (known: ${Object.keys(RUNBOOKS).join(', ')})`);
    }
  });
  return problems;
}

/** Parses config text; returns every problem with its path instead of stopping at the first. */
export function parseConfigText(text: string, source = 'config'): { ok: true; config: Config } | { ok: false; problems: string[] } {
  let raw: unknown;
  try {
    raw = parseYaml(text, { prettyErrors: true, logLevel: 'error' }) ?? {}; // warnings would print past the one-line reasons
  } catch (err) {
    const msg = err instanceof YAMLParseError ? err.message.split('\n')[0] : String(err);
    return { ok: false, problems: [`${source}: not valid YAML: ${msg}`] };
  }
  const result = ConfigSchema.safeParse(raw, { error: configErrors });
  const crossRefs = crossReferenceProblems(raw);
  if (!result.success) return { ok: false, problems: [...new Set([...formatIssues(result.error), ...crossRefs])] };
  if (crossRefs.length > 0) return { ok: false, problems: crossRefs };
  return { ok: true, config: result.data };
}

export function expandHome(path: string, env: Env): string {
  if (path === '~' || path.startsWith('~/')) return resolve(env.HOME ?? homedir(), path.slice(2));
  return path;
}

/**
 * Loads the config file (or the embedded default when `file` is undefined) and the environment,
 * once. Throws an InputError listing every problem.
 */
export function loadSettings(file: string | undefined, env: Env): Settings {
  let config: Config;
  if (file === undefined) {
    config = ConfigSchema.parse({});
  } else {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new InputError(`cannot read config ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, 'config_invalid');
    }
    const parsed = parseConfigText(text, file);
    if (!parsed.ok) throw new ConfigError(file, parsed.problems);
    config = parsed.config;
    const base = dirname(resolve(file));
    for (const { ssh } of Object.values(config.hosts)) {
      if (ssh?.keyPath) ssh.keyPath = resolve(base, expandHome(ssh.keyPath, env));
      if (ssh?.hostKey.knownHosts) ssh.hostKey.knownHosts = resolve(base, expandHome(ssh.hostKey.knownHosts, env));
    }
  }
  const missingSecrets = resolveSecrets(config, env);
  if (env.REDIS_URL) config.redis.url = env.REDIS_URL;
  if (env.TRIAGE_LOG_LEVEL) {
    const level = ConfigSchema.shape.log.unwrap().shape.level.safeParse(env.TRIAGE_LOG_LEVEL);
    if (!level.success) throw new InputError(`TRIAGE_LOG_LEVEL: expected one of trace, debug, info, warn, error, silent`, 'config_invalid');
    config.log.level = level.data;
  }
  return { config, file: file ?? null, sshAuthSock: env.SSH_AUTH_SOCK, databaseUrl: env.DATABASE_URL, missingSecrets };
}

/**
 * Replaces `env:NAME` secrets by the variable's value. A missing variable is reported, not thrown:
 * only the commands that use the secret (serve) refuse to start without it.
 */
function resolveSecrets(config: Config, env: Env): string[] {
  const missing: string[] = [];
  const resolve = (value: string, path: string): string => {
    if (!value.startsWith('env:')) return value;
    const name = value.slice(4);
    const v = env[name];
    if (v === undefined || v === '') {
      missing.push(`${path}: environment variable ${name} is not set`);
      return value;
    }
    return v;
  };
  for (const [name, hook] of Object.entries(config.webhooks)) {
    if (!hook) continue;
    const a = hook.auth;
    if (a.type === 'bearer') a.token = resolve(a.token, `webhooks.${name}.auth.token`);
    else if (a.type === 'basic') a.password = resolve(a.password, `webhooks.${name}.auth.password`);
    else a.secret = resolve(a.secret, `webhooks.${name}.auth.secret`);
  }
  if (config.server.apiToken) config.server.apiToken = resolve(config.server.apiToken, 'server.apiToken');
  const slack = config.slack;
  if (slack) {
    slack.botToken = resolve(slack.botToken, 'slack.botToken');
    if (slack.signingSecret) slack.signingSecret = resolve(slack.signingSecret, 'slack.signingSecret');
    if (slack.appToken) slack.appToken = resolve(slack.appToken, 'slack.appToken');
  }
  return missing;
}

export class ConfigError extends TriageError {
  readonly problems: string[];
  constructor(file: string, problems: string[]) {
    super('config_invalid', `${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}: ${problems[0] ?? ''}`);
    this.problems = problems;
  }
}
