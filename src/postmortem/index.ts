/**
 * A postmortem draft from an incident, its timeline and its report, following the write-up's
 * structure (背景 / 及时止损, 保留现场 / 问题定位 / 故障原因 / 复现验证 / 问题修复 / 总结反思) in English.
 * Pure: no I/O, no clock but `now`, never throws. Every user- or log-supplied string is passed
 * through `redactSecrets` here, so the JSON is as safe to upload as the Markdown.
 */
import type { Incident, TimelineEvent } from '../core/incident.js';
import type { Report } from '../engine/report.js';
import { redactSecrets } from '../steps/parse/logs.js';
import { renderMarkdown } from './markdown.js';

export { renderMarkdown } from './markdown.js';

export interface PostmortemInput {
  incident: Incident;
  timeline: TimelineEvent[];
  now: Date;
}

/** One row of the timeline. `type` is any string: action and approval events are accepted too. */
export interface PostmortemEvent {
  /** ISO 8601 as recorded (redacted); `time` is its UTC clock time, `HH:MM:SS` (prefixed by `YYYY-MM-DD ` on another day than the incident's), or `?`. */
  at: string;
  time: string;
  type: string;
  /** Human label of the type, e.g. `Approval given`. */
  label: string;
  message: string;
  /** `data.by` or `data.user`, when present. */
  by: string | null;
}

export interface PostmortemFinding {
  id: string;
  step: string;
  severity: string;
  title: string;
  detail: string;
  evidence: string[];
  /** Evidence lines left out (cap). */
  evidenceOmitted: number;
}

export interface PostmortemApproval {
  at: string;
  decision: 'requested' | 'given' | 'denied' | 'expired';
  action: string | null;
  target: string | null;
  by: string | null;
  message: string;
}

export interface PostmortemActionRun {
  at: string;
  phase: 'started' | 'finished';
  action: string | null;
  target: string | null;
  command: string | null;
  exitCode: number | null;
  durationMs: number | null;
  by: string | null;
  message: string;
}

export interface Postmortem {
  version: 1;
  incidentId: string;
  generatedAt: string;
  /** `Postmortem: <symptom> on <target> (<date>)` */
  title: string;
  /** UTC date of the incident, `YYYY-MM-DD`. */
  date: string;
  status: string;
  runbook: string;
  target: string;
  service: string | null;
  summary: string;
  impact: {
    startedAt: string | null;
    /** The first alert's `startsAt` when earlier than the incident's creation. */
    startedFrom: 'alert' | 'created' | null;
    endedAt: string | null;
    endedBy: 'mitigated' | 'recovery-verified' | 'resolved' | null;
    ongoing: boolean;
    /** Up to the end, or up to `now` when ongoing. */
    durationMs: number | null;
    /** e.g. `6 min 1 s`, `ongoing (12 min so far)` */
    duration: string;
    targets: string[];
    symptom: { kind: string; text: string; counts: Record<string, number>; total: number; line: string } | null;
    note: string | null;
  };
  detection: {
    kind: string;
    text: string;
    at: string | null;
    alertname: string | null;
    source: string | null;
    user: string | null;
    channel: string | null;
    alerts: { alertname: string; status: string; startsAt: string; labels: string }[];
  };
  timeline: PostmortemEvent[];
  timelineOmitted: number;
  investigation: {
    ran: boolean;
    failed: boolean;
    error: string | null;
    startedAt: string | null;
    finishedAt: string | null;
    durationMs: number | null;
    findings: PostmortemFinding[];
    findingsOmitted: number;
    steps: { id: string; status: string; durationMs: number | null; error: string | null }[];
    warnings: string[];
  };
  rootCause: {
    id: string;
    name: string;
    confidence: number | null;
    summary: string;
    chain: string[];
    links: { from: string; to: string; verified: boolean; evidence: string; feedback?: true }[];
    ruledOut: { id: string; reason: string }[];
    /** Alternatives neither supported nor refuted (facts missing). */
    notRuledOut: { id: string; evidence: string }[];
    caveats: string[];
  } | null;
  /** Why there is no root cause, when there is none. */
  rootCauseNote: string | null;
  stopLoss: {
    actionTaken: boolean;
    approvals: PostmortemApproval[];
    actions: PostmortemActionRun[];
    snapshots: { at: string; message: string }[];
    recovery: { verified: boolean | null; at: string | null; message: string | null };
    mitigatedAt: string | null;
    /** The report's stop-loss recommendations. */
    recommendation: string[];
    /** One sentence: what was done, or `No action was taken by triage.` */
    text: string;
  };
  reproduction: { scenario: string | null; command: string | null; text: string };
  fix: string[];
  actionItems: { kind: string; title: string; items: { text: string; done: boolean }[] }[];
  lessons: string[];
  /** Sections that could not be drafted from the data (malformed input), with the reason. */
  problems: string[];
}

/** Caps: the draft stays readable and within chat upload limits. */
export const LIMITS = { findings: 20, evidenceLines: 5, lineChars: 300, textChars: 2000, timelineRows: 200 } as const;

const SYMPTOM_TEXT: Record<string, string> = {
  reset: 'connection reset by peer',
  refused: 'connection refused',
  'connect-timeout': 'connect time-outs',
  'read-timeout': 'read time-outs',
  'empty-reply': 'empty replies',
  'http-error': 'HTTP errors',
  ok: 'no failure reproduced',
};

const HYPOTHESIS_NAME: Record<string, string> = {
  'db-pool-saturation': 'DB connection pool saturation',
  'close-wait-pileup': 'CLOSE_WAIT pile-up',
  'fd-exhaustion': 'file descriptor exhaustion',
  'fd-leak': 'file descriptor leak',
  'listen-backlog-overflow': 'listen backlog (accept queue) overflow',
  'process-down': 'process down',
  'host-fd-exhaustion': 'host file table exhaustion',
  'conntrack-full': 'conntrack table full',
  'handler-blocked': 'blocked request handlers',
  'no-fault-found': 'no fault found on the instance',
};

const EVENT_LABEL: Record<string, string> = {
  created: 'Incident opened',
  'alert-received': 'Alert received',
  'alert-joined': 'Alert joined',
  'alert-resolved': 'Alert resolved',
  'investigation-queued': 'Investigation queued',
  'investigation-started': 'Investigation started',
  'step-finished': 'Step finished',
  diagnosed: 'Diagnosed',
  'investigation-failed': 'Investigation failed',
  resolved: 'Resolved',
  'approval-requested': 'Approval requested',
  'approval-given': 'Approval given',
  'approval-denied': 'Approval denied',
  'approval-expired': 'Approval expired',
  'action-started': 'Action started',
  'action-finished': 'Action finished',
  'snapshot-taken': 'Snapshot taken',
  'recovery-verified': 'Recovery verified',
  mitigated: 'Mitigated',
};

/** Root cause → the lab scenario that reproduces it (`triage lab --scenario <id>`). */
const SCENARIO_FOR: Record<string, string> = {
  'db-pool-saturation': 'db-pool',
  'fd-leak': 'fd-leak',
  'listen-backlog-overflow': 'backlog',
  'process-down': 'down',
  'handler-blocked': 'slow-downstream',
};

const REC_KIND_TITLE: Record<string, string> = {
  'stop-loss': 'Stop-loss',
  fix: 'Fix',
  monitoring: 'Monitoring',
  'next-check': 'Next checks',
};
const REC_KIND_ORDER = ['stop-loss', 'fix', 'monitoring', 'next-check'];

// ---------------------------------------------------------------- safe accessors

type Obj = Record<string, unknown>;
const isObj = (x: unknown): x is Obj => typeof x === 'object' && x !== null && !Array.isArray(x);
const arr = (x: unknown): unknown[] => (Array.isArray(x) ? x : []);
const num = (x: unknown): number | null => (typeof x === 'number' && Number.isFinite(x) ? x : null);
const str = (x: unknown): string | null => (typeof x === 'string' && x.length > 0 ? x : typeof x === 'number' && Number.isFinite(x) ? String(x) : null);

/** Redacted, whitespace-collapsed and capped: safe for one line of Markdown (escaping is the renderer's). */
export function clean(x: unknown, max: number = LIMITS.textChars): string {
  let s: string;
  // Bound the work of the redaction regexes on huge inputs.
  if (typeof x === 'string') s = x.length > 50_000 ? x.slice(0, 50_000) : x;
  else if (typeof x === 'number' || typeof x === 'boolean') s = String(x);
  else if (x === null || x === undefined) s = '';
  else {
    try {
      s = (JSON.stringify(x) ?? '').slice(0, 50_000);
    } catch {
      s = String(Object.prototype.toString.call(x));
    }
  }
  // Redact before collapsing whitespace: a secret split across lines is still caught by its line.
  s = s
    .split(/\r\n|[\r\n\u0085\u2028\u2029]/)
    .map((l) => redactSecrets(` ${l}`).slice(1))
    .join(' ')
    .replace(/[\t\f\v\u0000-\u0008\u000e-\u001f\u007f]/g, ' ')
    .replace(/ {2,}/g, ' ')
    .trim();
  return cap(s, max);
}

function cap(s: string, max: number): string {
  if (s.length <= max) return s;
  // Do not cut a surrogate pair in half.
  let end = max - 1;
  const c = s.charCodeAt(end - 1);
  if (c >= 0xd800 && c <= 0xdbff) end--;
  return `${s.slice(0, end)}…`;
}

function parseTime(iso: unknown): number | null {
  if (typeof iso !== 'string') return null;
  const t = Date.parse(iso);
  return Number.isFinite(t) ? t : null;
}

/** `HH:MM:SS` in UTC, or `?`. */
export function clock(iso: unknown): string {
  const t = parseTime(iso);
  return t === null ? '?' : new Date(t).toISOString().slice(11, 19);
}

function day(iso: unknown): string | null {
  const t = parseTime(iso);
  return t === null ? null : new Date(t).toISOString().slice(0, 10);
}

/** `45 s`, `6 min 1 s`, `2 h 5 min`, `1 d 3 h`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return 'unknown';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m} min ${s % 60} s` : `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d} d ${h % 24} h` : `${d} d`;
}

const upper = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

function pct(x: number): string {
  return `${Math.round(x * 100)}%`;
}

function hypName(id: string): string {
  return HYPOTHESIS_NAME[id] ?? id;
}

// ---------------------------------------------------------------- the draft

/** Drafts the postmortem of one incident. Never throws: a section it cannot draft says so. */
export function draftPostmortem(input: PostmortemInput): { markdown: string; json: Postmortem } {
  let json: Postmortem;
  try {
    json = build(input);
  } catch (err) {
    json = emptyPostmortem(input, `could not draft the postmortem: ${clean(err instanceof Error ? err.message : err, 300)}`);
  }
  let markdown: string;
  try {
    markdown = renderMarkdown(json);
  } catch (err) {
    markdown = `# Postmortem: incident ${clean(json.incidentId, 100)}\n\nThe postmortem could not be rendered: ${clean(err instanceof Error ? err.message : err, 300)}\n`;
  }
  return { markdown, json };
}

function nowIso(now: unknown): string {
  return now instanceof Date && Number.isFinite(now.getTime()) ? now.toISOString() : new Date(0).toISOString();
}

function emptyPostmortem(input: PostmortemInput | undefined, problem: string): Postmortem {
  const inc: Obj = isObj(input) && isObj(input.incident) ? input.incident : {};
  const id = clean(inc.id, 100) || 'unknown';
  const generatedAt = nowIso(isObj(input) ? input.now : undefined);
  const date = day(inc.createdAt) ?? generatedAt.slice(0, 10);
  return {
    version: 1,
    incidentId: id,
    generatedAt,
    title: `Postmortem: incident ${id} (${date})`,
    date,
    status: clean(inc.status, 40) || 'unknown',
    runbook: clean(inc.runbook, 100),
    target: clean(inc.target, 200),
    service: null,
    summary: problem,
    impact: { startedAt: null, startedFrom: null, endedAt: null, endedBy: null, ongoing: false, durationMs: null, duration: 'unknown', targets: [], symptom: null, note: null },
    detection: { kind: 'unknown', text: 'unknown', at: null, alertname: null, source: null, user: null, channel: null, alerts: [] },
    timeline: [],
    timelineOmitted: 0,
    investigation: { ran: false, failed: false, error: null, startedAt: null, finishedAt: null, durationMs: null, findings: [], findingsOmitted: 0, steps: [], warnings: [] },
    rootCause: null,
    rootCauseNote: 'unknown',
    stopLoss: { actionTaken: false, approvals: [], actions: [], snapshots: [], recovery: { verified: null, at: null, message: null }, mitigatedAt: null, recommendation: [], text: 'No action was taken by triage.' },
    reproduction: { scenario: null, command: null, text: 'unknown' },
    fix: [],
    actionItems: [],
    lessons: [],
    problems: [problem],
  };
}

/** Runs one section's builder; a malformed input costs that section only. */
function section<T>(name: string, problems: string[], fallback: T, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    problems.push(`${name}: ${clean(err instanceof Error ? err.message : err, 300)}`);
    return fallback;
  }
}

function build(input: PostmortemInput): Postmortem {
  const base = emptyPostmortem(input, '');
  const problems: string[] = [];
  const inc = (isObj(input.incident) ? input.incident : {}) as Partial<Incident> & Obj;
  const report: Report | undefined = isObj(inc.report) ? (inc.report as Report) : undefined;
  const now = parseTime(base.generatedAt) ?? 0;

  const events = section('timeline', problems, { rows: [] as PostmortemEvent[], omitted: 0, raw: [] as RawEvent[] }, () => timelineOf(input.timeline, base.date));
  const service = section('service', problems, null, () => clean(report?.target?.service, 100) || null);
  const impact = section('impact', problems, base.impact, () => impactOf(inc, report, events.raw, now));
  const detection = section('detection', problems, base.detection, () => detectionOf(inc, events.raw));
  const investigation = section('investigation', problems, base.investigation, () => investigationOf(inc, report, events.raw));
  const rc = section('root cause', problems, { rootCause: null, note: 'the diagnosis could not be read' } as { rootCause: Postmortem['rootCause']; note: string | null }, () => rootCauseOf(inc, report));
  const stopLoss = section('stop-loss', problems, base.stopLoss, () => stopLossOf(report, events.raw));
  const reproduction = section('reproduction', problems, base.reproduction, () => reproductionOf(rc.rootCause, report));
  const recs = section('recommendations', problems, [] as { kind: string; text: string }[], () => recommendationsOf(report));
  const fix = recs.filter((r) => r.kind === 'fix').map((r) => r.text);
  const actionItems = section('action items', problems, [] as Postmortem['actionItems'], () => actionItemsOf(recs, stopLoss, investigation));
  const lessons = section('lessons', problems, [] as string[], () => lessonsOf(rc.rootCause, report, stopLoss, investigation));

  const symptomText = impact.symptom?.text ?? (investigation.failed ? 'failed investigation' : 'incident');
  const where = service ? `${service} at ${base.target || 'an unknown target'}` : base.target || 'an unknown target';
  const title = `Postmortem: ${symptomText} on ${where} (${base.date})`;
  const summary = section('summary', problems, '', () => summaryOf({ base, where, impact, detection, investigation, rootCause: rc.rootCause, rootCauseNote: rc.note, stopLoss }));

  return {
    ...base,
    title,
    service,
    summary,
    impact,
    detection,
    timeline: events.rows,
    timelineOmitted: events.omitted,
    investigation,
    rootCause: rc.rootCause,
    rootCauseNote: rc.note,
    stopLoss,
    reproduction,
    fix,
    actionItems,
    lessons,
    problems,
  };
}

// ---------------------------------------------------------------- timeline

interface RawEvent {
  t: number | null;
  at: string;
  type: string;
  message: string;
  data: Obj;
  by: string | null;
}

function timelineOf(timeline: unknown, date: string): { rows: PostmortemEvent[]; omitted: number; raw: RawEvent[] } {
  const raw: RawEvent[] = [];
  for (const e of arr(timeline)) {
    if (!isObj(e)) continue;
    const data = isObj(e.data) ? e.data : {};
    raw.push({
      t: parseTime(e.at),
      at: clean(e.at, 40),
      type: clean(e.type, 60) || 'event',
      message: clean(e.message),
      data,
      by: clean(str(data.by) ?? str(data.user) ?? '', 100) || null,
    });
  }
  // Stable: steps append concurrently, so entries may be slightly out of order. Unparsable times go last.
  const sorted = raw
    .map((e, i) => ({ e, i }))
    .sort((a, b) => (a.e.t ?? Infinity) - (b.e.t ?? Infinity) || a.i - b.i)
    .map((x) => x.e);
  const rows = sorted.slice(0, LIMITS.timelineRows).map((e) => ({
    at: e.at,
    // HH:MM:SS; an event on another day than the incident's carries its date.
    time: day(e.at) !== null && day(e.at) !== date ? `${day(e.at)} ${clock(e.at)}` : clock(e.at),
    type: e.type,
    label: EVENT_LABEL[e.type] ?? e.type,
    message: e.message,
    by: e.by,
  }));
  return { rows, omitted: Math.max(0, sorted.length - rows.length), raw: sorted };
}

const firstOf = (raw: RawEvent[], ...types: string[]) => raw.find((e) => types.includes(e.type) && e.t !== null);

// ---------------------------------------------------------------- impact

function symptomOf(report: Report | undefined): Postmortem['impact']['symptom'] {
  const s = report?.symptom as Obj | undefined;
  if (!isObj(s) || typeof s.kind !== 'string') return null;
  const counts: Record<string, number> = {};
  const src = isObj(s.counts) ? s.counts : isObj(report?.facts?.probe?.counts) ? (report?.facts?.probe?.counts as Obj) : {};
  for (const [k, v] of Object.entries(src)) {
    const n = num(v);
    if (n !== null && n > 0) counts[clean(k, 40)] = n;
  }
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  const kind = clean(s.kind, 40);
  const ordered = Object.entries(counts).sort((a, b) => (a[0] === kind ? -1 : b[0] === kind ? 1 : b[1] - a[1]));
  const line = total > 0 ? ordered.map(([k, n]) => `${n}/${total} probes ${k}`).join(', ') : `probe: ${kind}`;
  return { kind, text: SYMPTOM_TEXT[kind] ?? kind, counts, total, line };
}

function impactOf(inc: Partial<Incident> & Obj, report: Report | undefined, raw: RawEvent[], now: number): Postmortem['impact'] {
  const created = parseTime(inc.createdAt) ?? firstOf(raw, 'created')?.t ?? raw.find((e) => e.t !== null)?.t ?? null;
  const alertStarts = arr(inc.alerts)
    .map((a) => (isObj(a) ? parseTime(a.startsAt) : null))
    .filter((t): t is number => t !== null);
  const firstAlert = alertStarts.length ? Math.min(...alertStarts) : null;
  let start = created;
  let startedFrom: 'alert' | 'created' | null = created !== null ? 'created' : null;
  if (firstAlert !== null && (start === null || firstAlert < start)) {
    start = firstAlert;
    startedFrom = 'alert';
  }
  let end: number | null = null;
  let endedBy: Postmortem['impact']['endedBy'] = null;
  for (const type of ['mitigated', 'recovery-verified', 'resolved'] as const) {
    const e = firstOf(raw, type);
    if (e && e.t !== null && !(type === 'recovery-verified' && verdict(e) === false)) {
      end = e.t;
      endedBy = type;
      break;
    }
  }
  if (end === null && inc.status === 'resolved') {
    end = parseTime(inc.updatedAt);
    if (end !== null) endedBy = 'resolved';
  }
  const ongoing = end === null;
  const durationMs = start === null ? null : Math.max(0, (end ?? now) - start);
  const duration = durationMs === null ? 'unknown' : ongoing ? `ongoing (${formatDuration(durationMs)} so far)` : formatDuration(durationMs);

  const targets: string[] = [];
  const add = (t: unknown) => {
    const s = clean(t, 200);
    if (s && !targets.includes(s)) targets.push(s);
  };
  add(inc.target);
  for (const e of raw) if (e.type.startsWith('action-') || e.type === 'snapshot-taken') add(actionTarget(e.data));

  let note: string | null = null;
  const symptom = symptomOf(report);
  if (!symptom) {
    const s = report?.symptom as Obj | undefined;
    note = isObj(s) && typeof s.reason === 'string' ? `not probed: ${clean(s.reason, 300)}` : report ? 'the probe did not run' : 'no report: the symptom was not measured';
  }
  return {
    startedAt: start === null ? null : new Date(start).toISOString(),
    startedFrom,
    endedAt: end === null ? null : new Date(end).toISOString(),
    endedBy,
    ongoing,
    durationMs,
    duration,
    targets,
    symptom,
    note,
  };
}

// ---------------------------------------------------------------- detection

function detectionOf(inc: Partial<Incident> & Obj, raw: RawEvent[]): Postmortem['detection'] {
  const trig: Obj = isObj(inc.trigger) ? inc.trigger : {};
  const kind = clean(trig.kind, 40) || 'unknown';
  const at = (typeof inc.createdAt === 'string' ? clean(inc.createdAt, 40) : null) ?? firstOf(raw, 'created')?.at ?? null;
  const alerts = arr(inc.alerts)
    .filter(isObj)
    .map((a) => {
      const labels = isObj(a.labels) ? a.labels : {};
      return {
        alertname: clean(labels.alertname, 100) || clean(a.fingerprint, 100) || 'alert',
        status: clean(a.status, 20),
        startsAt: clean(a.startsAt, 40),
        labels: clean(
          Object.entries(labels)
            .filter(([k]) => k !== 'alertname')
            .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
            .join(', '),
          300,
        ),
      };
    });
  const when = at ? ` at ${clock(at)} UTC` : '';
  let text: string;
  let alertname: string | null = null;
  let source: string | null = null;
  let user: string | null = null;
  let channel: string | null = null;
  switch (kind) {
    case 'alert': {
      alertname = clean(trig.alertname, 100) || null;
      source = clean(trig.source, 40) || null;
      const first = alerts.find((a) => a.alertname === alertname) ?? alerts[0];
      const firing = first?.startsAt && parseTime(first.startsAt) !== null ? `, firing since ${clock(first.startsAt)} UTC` : '';
      text = `Alert ${alertname ?? '(unnamed)'} from ${source ?? 'an alert source'}${firing}; the incident was opened${when}.`;
      break;
    }
    case 'mention':
    case 'slash':
      user = clean(trig.user, 100) || null;
      channel = clean(trig.channel, 100) || null;
      text = `Asked in chat by ${user ?? 'someone'}${channel ? ` in ${channel}` : ''} (${kind === 'slash' ? '/triage' : 'mention'})${when}.`;
      break;
    case 'cli':
      text = `Started from the command line${when}.`;
      break;
    case 'shell':
      text = `Started from triage shell${when}.`;
      break;
    default:
      text = `Unknown trigger${when}.`;
  }
  return { kind, text, at, alertname, source, user, channel, alerts };
}

// ---------------------------------------------------------------- investigation

const SEVERITY_RANK: Record<string, number> = { critical: 0, warning: 1, info: 2 };

function investigationOf(inc: Partial<Incident> & Obj, report: Report | undefined, raw: RawEvent[]): Postmortem['investigation'] {
  const failedEvent = [...raw].reverse().find((e) => e.type === 'investigation-failed');
  const error = clean(inc.error, 1000) || (!report && failedEvent ? failedEvent.message : '') || null;
  const failed = !report && (inc.status === 'failed' || error !== null);
  if (!report) {
    return { ran: raw.some((e) => e.type === 'investigation-started'), failed, error, startedAt: null, finishedAt: null, durationMs: null, findings: [], findingsOmitted: 0, steps: [], warnings: [] };
  }
  const all = arr(report.findings)
    .filter(isObj)
    .map((f, i) => ({ f, i }))
    .sort((a, b) => (SEVERITY_RANK[String(a.f.severity)] ?? 3) - (SEVERITY_RANK[String(b.f.severity)] ?? 3) || a.i - b.i)
    .map(({ f }) => f);
  const findings: PostmortemFinding[] = all.slice(0, LIMITS.findings).map((f) => {
    const ev = arr(f.evidence).map((l) => clean(l, LIMITS.lineChars));
    return {
      id: clean(f.id, 100),
      step: clean(f.step, 100),
      severity: clean(f.severity, 20),
      title: clean(f.title, 300),
      detail: clean(f.detail),
      evidence: ev.slice(0, LIMITS.evidenceLines),
      evidenceOmitted: Math.max(0, ev.length - LIMITS.evidenceLines),
    };
  });
  const steps = arr(report.steps)
    .filter(isObj)
    .map((s) => ({ id: clean(s.id, 100), status: clean(s.status, 20), durationMs: num(s.durationMs), error: clean(s.error, 500) || null }));
  return {
    ran: true,
    failed: false,
    error: clean(inc.error, 1000) || null,
    startedAt: clean(report.startedAt, 40) || null,
    finishedAt: clean(report.finishedAt, 40) || null,
    durationMs: num(report.durationMs),
    findings,
    findingsOmitted: Math.max(0, all.length - findings.length),
    steps,
    warnings: arr(report.warnings).map((w) => clean(w, 500)).filter(Boolean),
  };
}

// ---------------------------------------------------------------- root cause

function rootCauseOf(inc: Partial<Incident> & Obj, report: Report | undefined): { rootCause: Postmortem['rootCause']; note: string | null } {
  if (!report) {
    const err = clean(inc.error, 500);
    return { rootCause: null, note: err ? `Not determined: the investigation failed (${err}).` : 'Not determined: there is no report (the investigation has not finished).' };
  }
  const d: Obj = isObj(report.diagnosis) ? (report.diagnosis as unknown as Obj) : {};
  const rc = isObj(d.rootCause) ? d.rootCause : null;
  const caveats = arr(d.caveats).map((c) => clean(c, 500)).filter(Boolean);
  if (!rc) return { rootCause: null, note: `No hypothesis explains the symptom with the facts measured.${caveats.length ? ` Caveats: ${caveats.join('; ')}` : ''}` };
  const id = clean(rc.id, 100) || 'unknown';
  return {
    rootCause: {
      id,
      name: hypName(id),
      confidence: num(rc.confidence),
      summary: clean(rc.summary),
      chain: arr(d.chain).map((c) => clean(c, 100)).filter(Boolean),
      links: arr(d.links)
        .filter(isObj)
        .map((l) => ({ from: clean(l.from, 100), to: clean(l.to, 100), verified: l.verified === true, evidence: clean(l.evidence, 500), ...(l.feedback === true ? { feedback: true as const } : {}) })),
      ruledOut: arr(d.ruledOut)
        .filter(isObj)
        .map((r) => ({ id: clean(r.id, 100), reason: clean(r.reason, 500) })),
      notRuledOut: arr(d.hypotheses)
        .filter(isObj)
        .filter((h) => h.status === 'unknown' && h.id !== id)
        .map((h) => ({ id: clean(h.id, 100), evidence: arr(h.evidence).map((x) => clean(x, 300)).join('; ') })),
      caveats,
    },
    note: null,
  };
}

// ---------------------------------------------------------------- stop-loss

function actionOf(data: Obj): Obj {
  return isObj(data.action) ? data.action : isObj(data.request) ? data.request : data;
}

function actionName(data: Obj): string | null {
  const a = actionOf(data);
  return clean(str(a.kind) ?? str(data.kind) ?? str(data.action) ?? '', 60) || null;
}

function actionTarget(data: Obj): string | null {
  const a = actionOf(data);
  const host = str(a.host) ?? str(data.host) ?? str(data.target) ?? str(data.instance);
  const port = num(a.port) ?? num(data.port);
  if (!host) return null;
  return clean(port !== null && !host.includes(':') ? `${host}:${port}` : host, 200);
}

function commandOf(data: Obj): string | null {
  const a = actionOf(data);
  const argv = Array.isArray(a.argv) ? a.argv : Array.isArray(data.argv) ? data.argv : null;
  if (argv) return clean(argv.map((x) => (typeof x === 'string' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(x) ? x : JSON.stringify(x))).join(' '), 500) || null;
  return clean(str(a.command) ?? str(data.command) ?? '', 500) || null;
}

/** A recovery check's result when the event says so: `data.ok` / `data.verified` false means it failed. */
function verdict(e: RawEvent): boolean {
  if (e.data.ok === false || e.data.verified === false || e.data.recovered === false) return false;
  return true;
}

function stopLossOf(report: Report | undefined, raw: RawEvent[]): Postmortem['stopLoss'] {
  const approvals: PostmortemApproval[] = [];
  const actions: PostmortemActionRun[] = [];
  const snapshots: { at: string; message: string }[] = [];
  let recovery: Postmortem['stopLoss']['recovery'] = { verified: null, at: null, message: null };
  let mitigatedAt: string | null = null;
  for (const e of raw) {
    const m = /^approval-(requested|given|denied|expired)$/.exec(e.type);
    if (m) {
      approvals.push({ at: e.at, decision: m[1] as PostmortemApproval['decision'], action: actionName(e.data), target: actionTarget(e.data), by: e.by, message: e.message });
    } else if (e.type === 'action-started' || e.type === 'action-finished') {
      actions.push({
        at: e.at,
        phase: e.type === 'action-started' ? 'started' : 'finished',
        action: actionName(e.data),
        target: actionTarget(e.data),
        command: commandOf(e.data),
        exitCode: num(e.data.exitCode) ?? num(e.data.code) ?? num(e.data.exit),
        durationMs: num(e.data.durationMs),
        by: e.by,
        message: e.message,
      });
    } else if (e.type === 'snapshot-taken') {
      snapshots.push({ at: e.at, message: e.message });
    } else if (e.type === 'recovery-verified') {
      // The last check counts.
      recovery = { verified: verdict(e), at: e.at, message: e.message };
    } else if (e.type === 'mitigated' && mitigatedAt === null) {
      mitigatedAt = e.at;
    }
  }
  const recommendation = arr(report?.recommendations)
    .filter(isObj)
    .filter((r) => r.kind === 'stop-loss')
    .map((r) => clean(r.text));
  const actionTaken = actions.length > 0;
  let text: string;
  if (!actionTaken) {
    const asked = approvals.length ? ` ${approvalSentence(approvals)}` : '';
    text = `No action was taken by triage.${asked}${recommendation.length ? ` Recommended stop-loss: ${recommendation.join(' ')}` : ''}`;
  } else {
    const finished = actions.filter((a) => a.phase === 'finished');
    const ran = (finished.length ? finished : actions).map((a) => {
      const what = `${a.action ?? 'action'}${a.target ? ` on ${a.target}` : ''}`;
      return a.exitCode === null ? (a.phase === 'finished' ? `${what} (exit code not recorded)` : `${what} (started, no result recorded)`) : `${what} (exit code ${a.exitCode})`;
    });
    const rec = recovery.verified === true ? 'recovery verified' : recovery.verified === false ? 'recovery NOT verified' : 'recovery not checked';
    text = `${approvalSentence(approvals)} Ran: ${ran.join('; ')}; ${rec}${mitigatedAt ? `; mitigated at ${clock(mitigatedAt)} UTC` : ''}.`.trim();
  }
  return { actionTaken, approvals, actions, snapshots, recovery, mitigatedAt, recommendation, text };
}

function approvalSentence(approvals: PostmortemApproval[]): string {
  const parts = approvals
    .filter((a) => a.decision !== 'requested')
    .map((a) => `${a.action ?? 'action'}${a.target ? ` on ${a.target}` : ''} ${a.decision === 'given' ? 'approved' : a.decision}${a.by ? ` by ${a.by}` : ''}`);
  if (parts.length) return `${upper(cap(parts.join('; '), LIMITS.textChars))}.`;
  if (approvals.length) return 'Approval was requested but no decision was recorded.';
  return '';
}

// ---------------------------------------------------------------- reproduction, recommendations, lessons

function reproductionOf(rc: Postmortem['rootCause'], report: Report | undefined): Postmortem['reproduction'] {
  const id = rc?.id ?? null;
  const scenario = id ? (SCENARIO_FOR[id] ?? null) : null;
  const command = scenario ? `triage lab --scenario ${scenario}` : null;
  const lab = command ? ` In the lab: \`${command}\`.` : '';
  const poolMax = num(report?.facts?.pool?.stats?.maxOpen);
  const nofile = num(report?.facts?.fds?.softLimit);
  let text: string;
  switch (id) {
    case 'db-pool-saturation':
      text = `Lower the DB pool's maximum open connections${poolMax !== null ? ` (it was ${poolMax})` : ''} under load: handlers queue for a connection, clients time out and hang up, CLOSE_WAIT piles up until descriptors run out and new connections are reset.${lab}`;
      break;
    case 'handler-blocked':
      text = `Make the handlers wait on a slow dependency without a time-out (the write-up slept 100 s in a handler) under load: CLOSE_WAIT piles up and descriptors run out.${lab}`;
      break;
    case 'fd-leak':
      text = `Open a descriptor per request without closing it, under load${nofile !== null ? `, with nofile ${nofile}` : ''}: descriptors climb to the limit, then requests fail or are reset.${lab}`;
      break;
    case 'listen-backlog-overflow':
      text = `Accept slower than clients arrive, with a small backlog: the accept queue fills and SYNs are dropped (connect time-outs).${lab}`;
      break;
    case 'process-down':
      text = `Stop the process (or start it with a fatal configuration error) and probe: connections are refused.${lab}`;
      break;
    case 'close-wait-pileup':
    case 'fd-exhaustion':
      text = `What made the handlers stop finishing was not measured, so the cause cannot be reproduced yet. The mechanism can be, as the write-up did: a handler that blocks (sleep 100 s) under load — \`triage lab --scenario slow-downstream\`.`;
      break;
    case null:
      text = 'The root cause was not determined, so there is nothing to reproduce yet; reproduce the symptom with the probe (`curl -v` against the instance) once the investigation succeeds.';
      break;
    default:
      text = `Reproduce ${hypName(id)} on a test instance under load and confirm the same symptom and diagnosis (there is no lab scenario for it).`;
  }
  return { scenario, command, text };
}

function recommendationsOf(report: Report | undefined): { kind: string; text: string }[] {
  return arr(report?.recommendations)
    .filter(isObj)
    .map((r) => ({ kind: clean(r.kind, 40) || 'other', text: clean(r.text) }))
    .filter((r) => r.text);
}

function actionItemsOf(recs: { kind: string; text: string }[], stopLoss: Postmortem['stopLoss'], inv: Postmortem['investigation']): Postmortem['actionItems'] {
  const kinds = [...new Set(recs.map((r) => r.kind))].filter((k) => k !== 'fix').sort((a, b) => idx(a) - idx(b));
  const stopped = stopLoss.actionTaken && stopLoss.recovery.verified === true;
  const out: Postmortem['actionItems'] = kinds.map((kind) => ({
    kind,
    title: REC_KIND_TITLE[kind] ?? kind,
    // A stop-loss that ran and whose recovery was verified is done.
    items: recs.filter((r) => r.kind === kind).map((r) => ({ text: r.text, done: kind === 'stop-loss' && stopped })),
  }));
  if (inv.failed || !inv.ran) {
    out.push({ kind: 'next-check', title: REC_KIND_TITLE['next-check'] ?? 'Next checks', items: [{ text: `Make the investigation succeed${inv.error ? ` (it failed: ${inv.error})` : ''}, then run it again to get a diagnosis.`, done: false }] });
  }
  const failedSteps = inv.steps.filter((s) => s.status === 'failed');
  if (failedSteps.length) {
    out.push({ kind: 'triage', title: 'Triage', items: failedSteps.map((s) => ({ text: `Fix the ${s.id} step${s.error ? ` (${s.error})` : ''} so the next investigation measures it.`, done: false })) });
  }
  return out;
}

const idx = (k: string) => {
  const i = REC_KIND_ORDER.indexOf(k);
  return i < 0 ? REC_KIND_ORDER.length : i;
};

const SCENE_CAUSES = new Set(['db-pool-saturation', 'handler-blocked', 'fd-leak', 'close-wait-pileup', 'fd-exhaustion']);
const HISTORY_CAUSES = new Set(['db-pool-saturation', 'handler-blocked', 'close-wait-pileup', 'fd-exhaustion', 'fd-leak']);

function lessonsOf(rc: Postmortem['rootCause'], report: Report | undefined, stopLoss: Postmortem['stopLoss'], inv: Postmortem['investigation']): string[] {
  const out: string[] = [];
  const id = rc?.id ?? null;
  const facts = report?.facts;
  const failing = id !== null && id !== 'no-fault-found';

  if (failing || !report) {
    if (stopLoss.actionTaken) {
      const approved = stopLoss.approvals.find((a) => a.decision === 'given');
      out.push(
        `Stop the loss first: ${stopLoss.actions.find((a) => a.action)?.action ?? 'the action'}${approved?.by ? ` (approved by ${approved.by})` : ''} ${stopLoss.recovery.verified === true ? 'restored the service' : 'ran'}${stopLoss.mitigatedAt ? ` at ${clock(stopLoss.mitigatedAt)} UTC` : ''}; diagnosis continued without pressure.`,
      );
    } else {
      out.push('Stop the loss first: no stop-loss action was recorded for this incident; restarting the affected instances (while keeping one aside) would have ended the impact sooner.');
    }
  }
  if (id !== null && SCENE_CAUSES.has(id)) {
    out.push(
      stopLoss.snapshots.length
        ? `Keep the scene: a snapshot was taken at ${clock(stopLoss.snapshots[0]?.at)} UTC before acting, so the evidence (descriptors, sockets, pool statistics) survived the restart.`
        : 'Keep the scene: no snapshot or quarantined instance was recorded; a restart destroys the descriptors, sockets and pool state this diagnosis needs — keep one instance out of traffic, intact.',
    );
  }
  const monitor: string[] = [];
  if (id === 'db-pool-saturation') {
    const p = facts?.pool?.stats;
    monitor.push(p ? `DB pool in use vs max (was ${p.inUse}/${p.maxOpen}) and waiters` : 'DB pool in use vs max and waiters');
  }
  if (id !== null && ['db-pool-saturation', 'handler-blocked', 'fd-leak', 'close-wait-pileup', 'fd-exhaustion'].includes(id)) {
    const f = facts?.fds;
    monitor.push(f && num(f.open) !== null && num(f.softLimit) !== null ? `open descriptors against the limit (was ${f.open}/${f.softLimit})` : 'open descriptors against the limit');
  }
  if (id !== null && ['db-pool-saturation', 'handler-blocked', 'close-wait-pileup', 'fd-exhaustion'].includes(id)) {
    const l = facts?.logs?.latency;
    monitor.push(l && l.earlyP50Ms !== null && l.lateP50Ms !== null && l.trend === 'rising' ? `per-request latency (p50 rose ${l.earlyP50Ms} → ${l.lateP50Ms} ms before the resets)` : 'per-request latency');
    const cw = facts?.tcp?.closeWait?.total;
    if (id !== 'db-pool-saturation') monitor.push(typeof cw === 'number' ? `CLOSE_WAIT sockets (were ${cw})` : 'CLOSE_WAIT sockets');
  }
  if (id === 'listen-backlog-overflow') monitor.push('listen overflows and the accept queue');
  if (id === 'process-down') monitor.push('the health check and process restarts');
  if (id === 'conntrack-full') monitor.push('the conntrack table against its max');
  if (id === 'host-fd-exhaustion') monitor.push('the host file table against file-max');
  if (monitor.length) out.push(`Monitor what failed, with alerts before the limit: ${monitor.join('; ')}.`);

  if (id !== null && HISTORY_CAUSES.has(id)) {
    const hist = inv.steps.find((s) => s.id === 'history');
    const histNote = hist && hist.status !== 'ok' ? ` Here the history step ${hist.status === 'skipped' ? 'was skipped' : 'failed'}${hist.error ? ` (${hist.error})` : ''}, so the onset could only be read from logs.` : '';
    out.push(`Keep logs (access log with per-request latency, application logs) for 7 days: the onset — latency first, then only access lines, then nothing — is only visible in history.${histNote}`);
  }
  if (id === 'db-pool-saturation') {
    const max = num(facts?.pool?.stats?.maxOpen);
    out.push(`Capacity settings must follow traffic: the pool max${max !== null ? ` of ${max}` : ''} was sized for less traffic than it got; review it (and nofile) whenever traffic grows or before an event.`);
  } else if (id === 'listen-backlog-overflow') {
    out.push(`Capacity settings must follow traffic: the accept backlog${facts?.tcp?.listener ? ` of ${facts.tcp.listener.backlog}` : ''} and the instance's throughput must be reviewed as traffic grows.`);
  } else if (id === 'conntrack-full' || id === 'host-fd-exhaustion') {
    out.push('Capacity settings must follow traffic: host-wide tables (conntrack, file-max) must be sized for the peak, not the average.');
  }
  if (inv.failed) out.push(`The investigation itself failed${inv.error ? ` (${inv.error})` : ''}: make sure triage can reach the instance (SSH, permissions) before the next incident.`);
  return out;
}

// ---------------------------------------------------------------- summary

function summaryOf(x: {
  base: Postmortem;
  where: string;
  impact: Postmortem['impact'];
  detection: Postmortem['detection'];
  investigation: Postmortem['investigation'];
  rootCause: Postmortem['rootCause'];
  rootCauseNote: string | null;
  stopLoss: Postmortem['stopLoss'];
}): string {
  const { impact, detection, investigation, rootCause, stopLoss } = x;
  const parts: string[] = [];
  const what = impact.symptom ? `clients of ${x.where} saw ${impact.symptom.text} (${impact.symptom.line})` : `${x.where} was reported broken`;
  const trigger = detection.alertname ? `, detected by the alert ${detection.alertname}` : detection.user ? `, reported in chat by ${detection.user}` : '';
  parts.push(`On ${x.base.date}, ${what}${trigger}.`);
  if (impact.durationMs !== null) {
    parts.push(
      impact.ongoing
        ? `The incident is ongoing: ${formatDuration(impact.durationMs)} since the ${impact.startedFrom === 'alert' ? 'first alert' : 'incident was opened'}.`
        : `It lasted ${impact.duration} from the ${impact.startedFrom === 'alert' ? 'first alert' : 'incident was opened'} to ${impact.endedBy === 'resolved' ? 'resolution' : 'mitigation'}.`,
    );
  }
  if (rootCause) {
    const conf = rootCause.confidence !== null ? `, ${pct(rootCause.confidence)} confidence` : '';
    const chain = rootCause.chain.length > 1 ? `: ${rootCause.chain.join(' → ')}` : '';
    parts.push(`Root cause: ${rootCause.name} (${rootCause.id}${conf})${chain}.`);
  } else if (investigation.failed) {
    parts.push(`The investigation failed${investigation.error ? ` (${investigation.error})` : ''}, so the root cause is not known.`);
  } else if (x.rootCauseNote) {
    parts.push(`Root cause: ${x.rootCauseNote}`);
  }
  parts.push(stopLoss.actionTaken ? `Stop-loss: ${stopLoss.text}` : 'No action was taken by triage.');
  return cap(parts.join(' '), 4000);
}
