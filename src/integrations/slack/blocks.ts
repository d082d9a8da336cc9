/**
 * Block Kit rendering of the conversation's messages. Pure: no Slack client, no I/O.
 *
 * Whatever the data (alert text, log lines, step errors), the result satisfies the limits Slack
 * enforces — at most 50 blocks, a section's text ≤ 3,000 characters, a context block ≤ 10 elements
 * of ≤ 2,000 characters, a header ≤ 150 — plus the undocumented ~13,000-character ceiling on a
 * message's blocks (`msg_blocks_too_long`), which is kept under `LIMITS.totalText`. What does not
 * fit is cut and the message says so; the full evidence of cut findings comes back from
 * `longEvidence` for upload. Data in mrkdwn is escaped (`&`, `<`, `>`) and marked `verbatim`, so
 * it can never become a link or a mention; code blocks cannot be closed by the data.
 */
import type { Finding } from '../../core/facts.js';
import type { Report } from '../../engine/report.js';
import type { Attachment, OutMessage } from '../chat/adapter.js';
import { redactSecrets } from '../../steps/parse/logs.js';

export interface TextObject {
  type: 'mrkdwn' | 'plain_text';
  text: string;
  /** plain_text only: render `:emoji:` codes. */
  emoji?: boolean;
  /** mrkdwn only: true turns off Slack's auto-linking of URLs, channel names and mentions. */
  verbatim?: boolean;
}

/** The subset of Block Kit this renderer produces. */
export type Block =
  | { type: 'header'; text: { type: 'plain_text'; text: string; emoji?: boolean } }
  | { type: 'section'; text: TextObject }
  | { type: 'context'; elements: TextObject[] }
  | { type: 'divider' };

export const LIMITS = {
  blocks: 50,
  sectionText: 3000,
  contextElements: 10,
  contextText: 2000,
  headerText: 150,
  fallbackText: 3000,
  /** Sum of all block texts; Slack refuses larger messages with msg_blocks_too_long (~13,200). */
  totalText: 12_000,
} as const;

/** Evidence lines shown per finding before it is cut (the rest goes to a file). */
export const EVIDENCE_LINES = 8;
const EVIDENCE_LINE_CHARS = 200;
const TITLE_CHARS = 300;
const DETAIL_CHARS = 900;
const ITEM_CHARS = 700;
const TEXT_PIECE_CHARS = 1500;
/** Room kept for the closing notes (truncation note, incident context). */
const RESERVED_BLOCKS = 2;
const RESERVED_CHARS = 800;

const SEVERITY_EMOJI = { critical: '🔴', warning: '🟠', info: '⚪' } as const;
const SEVERITY_RANK: Record<string, number> = { critical: 0, warning: 1, info: 2 };
const STEP_EMOJI: Record<string, string> = { running: '⏳', ok: '✅', failed: '❌', skipped: '➖' };
const REC_KINDS: Record<string, string> = {
  'stop-loss': '🛑 *Stop the loss*',
  fix: '🔧 *Fix*',
  monitoring: '📈 *Monitoring*',
  'next-check': '🔍 *Next checks*',
};

// ---------------------------------------------------------------------------------------------
// Text hygiene

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
// C0 controls except \t and \n, DEL, C1 controls, bidi embeddings/overrides/isolates.
const UNSAFE_CONTROLS = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]/g;

/** Any value as a well-formed string without control or bidi-override characters. */
function clean(value: unknown): string {
  const s = typeof value === 'string' ? value : value === undefined || value === null ? '' : String(value);
  return s.replace(/\r\n?/g, '\n').replace(LONE_SURROGATE, '\uFFFD').replace(UNSAFE_CONTROLS, '\uFFFD');
}

/** One line: newlines and tabs become spaces. */
function flat(value: unknown): string {
  return clean(value).replace(/[\n\t]+/g, ' ');
}

/** Escapes mrkdwn control characters; runs of 3+ backticks cannot open or close a code block. */
function esc(raw: string): string {
  return raw
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/`{3,}/g, (m) => 'ˋ'.repeat(m.length));
}

/**
 * Cuts already-escaped text to `max` characters, ending with `…` when cut, never inside an
 * entity (`&amp;`) or a surrogate pair.
 */
function cutEscaped(text: string, max: number): string {
  if (text.length <= max) return text;
  let t = text.slice(0, Math.max(0, max - 1));
  const amp = t.lastIndexOf('&');
  if (amp >= 0 && t.indexOf(';', amp) < 0) t = t.slice(0, amp);
  if (/[\uD800-\uDBFF]$/.test(t)) t = t.slice(0, -1);
  return `${t}…`;
}

/** Data as mrkdwn (escaped, one line), at most `max` characters. */
function md(value: unknown, max: number): string {
  return cutEscaped(esc(flat(value)), max);
}

/** Data as inline code: escaped, no backticks, one line. */
function code(value: unknown, max = 200): string {
  return `\`${cutEscaped(esc(flat(value).replace(/`/g, 'ˋ')), max) || ' '}\``;
}

/** Plain text (header, fallback) cut to `max` characters without splitting a surrogate pair. */
function cutPlain(text: string, max: number): string {
  if (text.length <= max) return text;
  let t = text.slice(0, Math.max(0, max - 1));
  if (/[\uD800-\uDBFF]$/.test(t)) t = t.slice(0, -1);
  return `${t}…`;
}

/** Escapes a line and splits it into pieces of at most `max` escaped characters (code points kept whole). */
function splitEscaped(line: string, max: number): string[] {
  const out: string[] = [];
  let piece = '';
  for (const ch of line.replace(/`{3,}/g, (m) => 'ˋ'.repeat(m.length))) {
    const e = esc(ch);
    if (piece.length + e.length > max) {
      out.push(piece);
      piece = '';
    }
    piece += e;
  }
  if (piece || out.length === 0) out.push(piece || ' ');
  return out;
}

function mrkdwn(text: string): TextObject {
  return { type: 'mrkdwn', text: text.length > 0 ? text : ' ', verbatim: true };
}

function formatMs(ms: unknown): string {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** Slack-safe file name: `[A-Za-z0-9._-]`, no leading dot, bounded. */
function safeFilename(base: string): string {
  const s = flat(base)
    .replace(/[^A-Za-z0-9._-]+/g, '_')
    .replace(/^[._]+/, '')
    .slice(0, 80);
  return s || 'evidence';
}

function blockText(b: Block): number {
  switch (b.type) {
    case 'header':
    case 'section':
      return b.text.text.length;
    case 'context':
      return b.elements.reduce((n, e) => n + e.text.length, 0);
    default:
      return 0;
  }
}

// ---------------------------------------------------------------------------------------------
// A message under construction that keeps every limit

class Composer {
  readonly blocks: Block[] = [];
  private used = 0;
  /** Lines or items left out for lack of room. */
  dropped = 0;

  /** Whether a block with `chars` characters of text still fits, keeping room for the closing notes. */
  fits(chars: number): boolean {
    return this.blocks.length + 1 + RESERVED_BLOCKS <= LIMITS.blocks && this.used + chars + RESERVED_CHARS <= LIMITS.totalText;
  }

  add(block: Block): boolean {
    const chars = blockText(block);
    if (!this.fits(chars)) return false;
    this.blocks.push(block);
    this.used += chars;
    return true;
  }

  header(raw: string): void {
    const text = cutPlain(flat(raw).trim(), LIMITS.headerText) || 'triage';
    this.add({ type: 'header', text: { type: 'plain_text', text, emoji: true } });
  }

  /** A mrkdwn section; `text` must already be escaped. Cut to the section limit. */
  section(text: string): boolean {
    return this.add({ type: 'section', text: mrkdwn(cutEscaped(text, LIMITS.sectionText)) });
  }

  /**
   * Packs escaped lines under an optional heading into as many sections as needed. Lines that
   * no longer fit are counted in `dropped`. Each line is cut to `itemMax`.
   */
  lines(heading: string | undefined, lines: readonly string[], itemMax: number = ITEM_CHARS): void {
    let current = heading ?? '';
    for (let i = 0; i < lines.length; i++) {
      const line = cutEscaped(lines[i] ?? '', itemMax) || ' ';
      const next = current ? `${current}\n${line}` : line;
      if (next.length <= LIMITS.sectionText && this.fits(next.length)) {
        current = next;
        continue;
      }
      // The section is full: post it (it was checked to fit) and start another, if there is room.
      if (current) this.section(current);
      current = '';
      if (!this.fits(line.length)) {
        this.dropped += lines.length - i;
        return;
      }
      current = line;
    }
    if (current) this.section(current);
  }

  /** A context block; elements are escaped mrkdwn. Always fits (uses the reserved room). */
  context(elements: readonly string[]): void {
    const els = elements
      .filter((e) => e.length > 0)
      .slice(0, LIMITS.contextElements)
      .map((e) => mrkdwn(cutEscaped(e, Math.min(LIMITS.contextText, 300))));
    if (els.length === 0 || this.blocks.length >= LIMITS.blocks) return;
    this.blocks.push({ type: 'context', elements: els });
    this.used += blockText({ type: 'context', elements: els });
  }
}

// ---------------------------------------------------------------------------------------------
// Findings

interface FindingPlan {
  sections: { finding: Finding; text: string; file?: Attachment }[];
  /** Findings that did not fit, as one file. */
  overflow?: { count: number; file: Attachment };
}

function evidenceOf(f: Finding): string[] {
  return Array.isArray(f.evidence) ? f.evidence.map((l) => clean(l)) : [];
}

/** Evidence lines for a code block: one line each, no backticks at all, cut. */
function codeLine(raw: string): string {
  return cutEscaped(esc(raw.replace(/\n/g, ' ').replace(/\t/g, '  ').replace(/`/g, 'ˋ')), EVIDENCE_LINE_CHARS);
}

function findingText(f: Finding, filename: string | undefined): { text: string; cut: boolean } {
  const emoji = SEVERITY_EMOJI[f.severity] ?? '⚪';
  const parts = [`${emoji} *${md(f.title, TITLE_CHARS) || '(untitled)'}*`];
  const detail = clean(f.detail).trim();
  if (detail) parts.push(cutEscaped(esc(detail), DETAIL_CHARS));
  const ev = evidenceOf(f);
  const lines = ev.flatMap((l) => l.split('\n'));
  let cut = lines.length > EVIDENCE_LINES;
  if (lines.length > 0) {
    const shown = lines.slice(0, EVIDENCE_LINES).map((l) => {
      const c = codeLine(l);
      if (c.endsWith('…') && c.length >= EVIDENCE_LINE_CHARS) cut = true;
      return c || ' ';
    });
    parts.push(`\`\`\`\n${shown.join('\n')}\n\`\`\``);
    if (lines.length > EVIDENCE_LINES) {
      parts.push(`_… ${plural(lines.length - EVIDENCE_LINES, 'more line')}${filename ? ` in ${code(filename, 100)}` : ''}_`);
    } else if (cut && filename) {
      parts.push(`_long lines cut; full evidence in ${code(filename, 100)}_`);
    }
  }
  return { text: cutEscaped(parts.join('\n'), LIMITS.sectionText), cut };
}

function findingAsText(f: Finding): string {
  const ev = evidenceOf(f);
  return [`[${flat(f.severity)}] ${flat(f.title)}`, clean(f.detail), ...ev.map((l) => `  ${l}`)].join('\n');
}

function sortedFindings(findings: readonly Finding[]): Finding[] {
  return [...findings].sort((a, b) => (SEVERITY_RANK[a.severity] ?? 3) - (SEVERITY_RANK[b.severity] ?? 3));
}

/** Decides which findings are shown, which evidence is cut, and what goes to files. */
function planFindings(step: string, findings: readonly Finding[], composer: Composer): FindingPlan {
  const plan: FindingPlan = { sections: [] };
  const names = new Set<string>();
  const unique = (base: string): string => {
    let name = `${safeFilename(base)}.txt`;
    for (let i = 2; names.has(name); i++) name = `${safeFilename(base)}-${i}.txt`;
    names.add(name);
    return name;
  };
  const sorted = sortedFindings(findings);
  const overflowName = unique(`findings-${step}-more`);
  for (let i = 0; i < sorted.length; i++) {
    const f = sorted[i] as Finding;
    const probe = findingText(f, 'x');
    const filename = probe.cut ? unique(`evidence-${step}-${f.id}`) : undefined;
    const { text } = findingText(f, filename);
    if (!composer.section(text)) {
      const rest = sorted.slice(i);
      plan.overflow = {
        count: rest.length,
        file: {
          filename: overflowName,
          title: cutPlain(`${plural(rest.length, 'more finding')} from ${flat(step)}`, 200),
          content: rest.map(findingAsText).join('\n\n'),
        },
      };
      if (filename) names.delete(filename);
      break;
    }
    const file = filename
      ? { filename, title: cutPlain(`Evidence: ${flat(f.title)}`, 200), content: evidenceOf(f).join('\n') }
      : undefined;
    plan.sections.push(file ? { finding: f, text, file } : { finding: f, text });
  }
  return plan;
}

function renderFindings(m: Extract<OutMessage, { kind: 'findings' }>): { text: string; blocks: Block[]; files: Attachment[] } {
  const c = new Composer();
  const findings = Array.isArray(m.findings) ? m.findings : [];
  c.context([`Findings from ${code(m.step, 100)} · ${plural(findings.length, 'finding')}`]);
  if (findings.length === 0) c.section('No findings.');
  const plan = planFindings(m.step, findings, c);
  const files = plan.sections.flatMap((s) => (s.file ? [s.file] : []));
  if (plan.overflow) {
    c.context([`… ${plural(plan.overflow.count, 'more finding')} in the file ${code(plan.overflow.file.filename, 100)}`]);
    files.push(plan.overflow.file);
  }
  const sorted = sortedFindings(findings);
  const fallback = sorted.length
    ? `${plural(sorted.length, 'finding')} from ${flat(m.step)}: ${sorted
        .slice(0, 20)
        .map((f) => `${SEVERITY_EMOJI[f.severity] ?? '⚪'} ${flat(f.title)}`)
        .join('; ')}`
    : `No findings from ${flat(m.step)}`;
  return { text: cutEscaped(esc(fallback), LIMITS.fallbackText), blocks: c.blocks, files };
}

// ---------------------------------------------------------------------------------------------
// Progress

function renderProgress(m: Extract<OutMessage, { kind: 'progress' }>): { text: string; blocks: Block[] } {
  const c = new Composer();
  c.header(`Investigating ${flat(m.title)}`);
  const steps = Array.isArray(m.steps) ? m.steps : [];
  const lines = steps.map((s) => {
    const emoji = STEP_EMOJI[s.status] ?? '❔';
    const ms = formatMs(s.durationMs);
    const error = s.error ? ` — ${s.status === 'failed' ? md(s.error, 400) : `_${md(s.error, 400)}_`}` : '';
    return `${emoji} ${code(s.id, 80)}${ms ? ` ${ms}` : ''}${error}`;
  });
  if (lines.length) c.lines(undefined, lines);
  else c.section('_starting…_');
  if (c.dropped) c.context([`… ${plural(c.dropped, 'more step')} (truncated)`]);
  const done = steps.filter((s) => s.status !== 'running').length;
  const failed = steps.filter((s) => s.status === 'failed').length;
  const text = `Investigating ${flat(m.title)}: ${done}/${steps.length} steps done${failed ? `, ${failed} failed` : ''}`;
  return { text: cutEscaped(esc(text), LIMITS.fallbackText), blocks: c.blocks };
}

// ---------------------------------------------------------------------------------------------
// Diagnosis

function percent(x: unknown): string {
  return typeof x === 'number' && Number.isFinite(x) ? `${Math.round(x * 100)}%` : '?%';
}

/** `a → b → (unverified) c`, as escaped mrkdwn; a hop no link verifies is marked. */
function chainText(r: Report): string {
  const d = r.diagnosis;
  const chain = Array.isArray(d.chain) ? d.chain : [];
  const links = Array.isArray(d.links) ? d.links : [];
  const parts = [code(chain[0], 80)];
  for (let i = 1; i < chain.length; i++) {
    const link = links[i - 1];
    parts.push(link?.verified ? ` → ${code(chain[i], 80)}` : ` → _(unverified)_ ${code(chain[i], 80)}`);
  }
  return cutEscaped(parts.join(''), 2000);
}

function renderDiagnosis(m: Extract<OutMessage, { kind: 'diagnosis' }>): { text: string; blocks: Block[] } {
  const r = m.report;
  const d = r.diagnosis;
  const c = new Composer();
  const t = r.target;
  const where = `${t?.service ? `${flat(t.service)} on ` : ''}${flat(t?.host)}:${flat(t?.port)}`;
  c.header(`Diagnosis: ${flat(r.runbook)} — ${where}`);

  const caveats = Array.isArray(d.caveats) ? d.caveats : [];
  const sym = r.symptom;
  let symptom = '';
  if (sym && 'counts' in sym && sym.kind) {
    const counts = sym.counts && typeof sym.counts === 'object' ? Object.entries(sym.counts).map(([k, n]) => `${k} ${n}`) : [];
    symptom = `*Symptom:* ${code(sym.kind, 40)}${counts.length ? ` (${md(counts.join(', '), 300)})` : ''}`;
  } else if (sym && 'reason' in sym) {
    symptom = `*Symptom:* not measured — ${md(sym.reason, 400)}`;
  }
  let root: string;
  if (d.rootCause && d.rootCause.id === 'no-fault-found') {
    root = `✅ *No fault found* — confidence ${percent(d.rootCause.confidence)}\n${cutEscaped(esc(clean(d.rootCause.summary).trim()), 2200)}`;
  } else if (d.rootCause) {
    root = `*Root cause:* ${code(d.rootCause.id, 80)} — confidence ${percent(d.rootCause.confidence)}\n${cutEscaped(esc(clean(d.rootCause.summary).trim()), 2200)}`;
  } else {
    const why = caveats[caveats.length - 1];
    root = `*No root cause found*${why ? `: ${md(why, 600)}` : '.'}`;
  }
  c.section(symptom ? `${symptom}\n${root}` : root);

  const chain = Array.isArray(d.chain) ? d.chain : [];
  if (chain.length) {
    const links = (Array.isArray(d.links) ? d.links : []).map(
      (l) => `${l.verified ? '✅' : '❔'} ${code(l.from, 80)} → ${code(l.to, 80)}${l.feedback ? ' _(feeds back)_' : ''}: ${md(l.evidence, 500)}`,
    );
    c.lines(`*Chain:* ${chainText(r)}`, links);
  }
  const ruledOut = Array.isArray(d.ruledOut) ? d.ruledOut : [];
  if (ruledOut.length) c.lines('*Ruled out*', ruledOut.map((x) => `• ${code(x.id, 80)}: ${md(x.reason, 500)}`));
  if (caveats.length) c.lines('*Caveats*', caveats.map((x) => `• ${md(x, 600)}`));

  const recs = Array.isArray(r.recommendations) ? r.recommendations : [];
  const kinds = [...Object.keys(REC_KINDS), ...new Set(recs.map((x) => flat(x.kind)).filter((k) => !(k in REC_KINDS)))];
  let first = true;
  for (const kind of kinds) {
    const items = recs.filter((x) => flat(x.kind) === kind);
    if (!items.length) continue;
    const label = REC_KINDS[kind] ?? `*${md(kind, 60) || 'other'}*`;
    c.lines(first ? `*Recommendations*\n${label}` : label, items.map((x) => `• ${md(x.text, ITEM_CHARS - 2)}`));
    first = false;
  }

  if (c.dropped) c.context([`(truncated: ${plural(c.dropped, 'more line')} not shown — see the full report)`]);
  const ctx: string[] = [];
  if (m.incidentId) ctx.push(`Incident ${code(m.incidentId, 80)}`);
  ctx.push(`${code(r.runbook, 60)} on ${md(where, 200)}`);
  const ms = formatMs(r.durationMs);
  if (ms) ctx.push(`took ${ms}`);
  if (r.startedAt) ctx.push(md(r.startedAt, 40));
  c.context(ctx);

  const chainPlain = chain.map((x) => flat(x)).join(' → ');
  const fallback = d.rootCause
    ? `Root cause: ${flat(d.rootCause.id)} (${percent(d.rootCause.confidence)})${chainPlain ? ` — ${chainPlain}` : ''}`
    : `No root cause found for ${flat(r.runbook)} on ${where}`;
  return { text: cutEscaped(esc(`${m.incidentId ? `[${flat(m.incidentId)}] ` : ''}${fallback}`), LIMITS.fallbackText), blocks: c.blocks };
}

// ---------------------------------------------------------------------------------------------
// Text and usage

function renderText(text: string): { text: string; blocks: Block[] } {
  const c = new Composer();
  const body = clean(text).trim();
  const pieces = body.split('\n').flatMap((line) => splitEscaped(line, TEXT_PIECE_CHARS));
  if (body) c.lines(undefined, pieces, TEXT_PIECE_CHARS);
  else c.section(' ');
  if (c.dropped) c.context(['(truncated)']);
  return { text: cutEscaped(esc(body.replace(/\s+/g, ' ')), LIMITS.fallbackText) || ' ', blocks: c.blocks };
}

function renderUsage(text: string): { text: string; blocks: Block[] } {
  const c = new Composer();
  const body = clean(text).replace(/\t/g, '  ').replace(/`/g, 'ˋ').trim();
  const inner = cutEscaped(esc(body), 2800);
  c.section(`\`\`\`\n${inner || ' '}\n\`\`\``);
  if (inner.length < esc(body).length) c.context(['(truncated)']);
  return { text: cutEscaped(esc(body.replace(/\s+/g, ' ')), LIMITS.fallbackText) || ' ', blocks: c.blocks };
}

/** Action ids of the approval buttons; the button's value is the approval's hash. */
export const APPROVE_ACTION = 'triage_approve';
export const DENY_ACTION = 'triage_deny';

function renderApproval(m: Extract<OutMessage, { kind: 'approval' }>): { text: string; blocks: Block[] } {
  const a = m.approval;
  // A template may carry a credential (an LB API token): the channel sees the command, not the secret.
  const cmd = redactSecrets(` ${a.action.argv.map((x) => clean(x)).join(' ')}`).slice(1).replace(/`/g, 'ˋ');
  const what = `${a.action.kind} ${a.action.service} on ${a.action.host}:${a.action.port}`;
  const head = m.state === 'open' ? `:warning: *Approve ${esc(what)}?*` : `*${esc(what)}*: ${esc(a.status)}`;
  const blocks: Block[] = [
    { type: 'section', text: mrkdwn(cutEscaped(`${head}\nCommand (dry run): \`\`\`${cutEscaped(esc(cmd), 2000)}\`\`\`\nBlast radius: ${esc(m.blastRadius)}`, 2900)) },
  ];
  const when = (iso?: string) => (iso ? iso.replace(/\.\d+Z$/, 'Z') : '');
  if (m.state === 'open') {
    blocks.push({ type: 'context', elements: [mrkdwn(`Expires ${esc(when(a.expiresAt))} · incident ${esc(a.incidentId)} · approval ${esc(a.hash.slice(0, 12))}`)] });
    blocks.push({
      type: 'actions',
      block_id: `approval-${a.hash.slice(0, 32)}`,
      elements: [
        { type: 'button', text: { type: 'plain_text', text: 'Approve' }, style: 'primary', action_id: APPROVE_ACTION, value: a.hash },
        { type: 'button', text: { type: 'plain_text', text: 'Deny' }, style: 'danger', action_id: DENY_ACTION, value: a.hash },
      ],
    } as unknown as Block);
  } else {
    const by = a.decidedBy ? `${a.status === 'expired' ? 'expired' : `by <@${esc(a.decidedBy).replace(/[^A-Z0-9]/g, '')}>`} at ${esc(when(a.decidedAt))}` : '';
    blocks.push({ type: 'context', elements: [mrkdwn(cutEscaped(`${esc(a.status)} ${by}${a.outcome ? ` — ${esc(clean(a.outcome))}` : ''}`, 1900))] });
  }
  return { text: cutEscaped(esc(m.state === 'open' ? `Approve ${what}?` : `${what}: ${a.status}`), LIMITS.fallbackText), blocks };
}

// ---------------------------------------------------------------------------------------------

function render(message: OutMessage): { text: string; blocks: Block[]; files: Attachment[] } {
  switch (message.kind) {
    case 'text':
      return { ...renderText(message.text), files: [] };
    case 'usage':
      return { ...renderUsage(message.text), files: [] };
    case 'progress':
      return { ...renderProgress(message), files: [] };
    case 'findings':
      return renderFindings(message);
    case 'diagnosis':
      return { ...renderDiagnosis(message), files: [] };
    case 'approval':
      return { ...renderApproval(message), files: [] };
    default:
      return { text: 'unsupported message', blocks: [{ type: 'section', text: mrkdwn('_(unsupported message)_') }], files: [] };
  }
}

/** The message as Block Kit, with `text` as the notification fallback. Never throws. */
export function renderBlocks(message: OutMessage): { text: string; blocks: Block[] } {
  try {
    const { text, blocks } = render(message);
    return { text: text || ' ', blocks };
  } catch {
    // Malformed data (a report read from a bad JSON file): say so rather than fail the conversation.
    return { text: '(this message could not be rendered)', blocks: [{ type: 'section', text: mrkdwn('_(this message could not be rendered)_') }] };
  }
}

/**
 * The full evidence of findings whose evidence the blocks cut (more than `EVIDENCE_LINES` lines or
 * over-long lines), and the findings that did not fit at all, as text files to upload in the thread.
 * The file names match what the blocks refer to.
 */
export function longEvidence(message: OutMessage): Attachment[] {
  if (message.kind !== 'findings') return [];
  try {
    return render(message).files;
  } catch {
    return [];
  }
}
