import type { Finding } from '../../core/facts.js';
import { terminalSafe } from '../../core/target.js';
import type { Report } from '../../engine/report.js';
import type { RunEvent, StepOutcome } from '../../engine/run.js';
import { describeSymptom } from '../../steps/probe-http.js';

export interface Style {
  bold(s: string): string;
  dim(s: string): string;
  red(s: string): string;
  yellow(s: string): string;
  green(s: string): string;
}

export const PLAIN: Style = { bold: (s) => s, dim: (s) => s, red: (s) => s, yellow: (s) => s, green: (s) => s };
export const ANSI: Style = {
  bold: (s) => `\x1b[1m${s}\x1b[22m`,
  dim: (s) => `\x1b[2m${s}\x1b[22m`,
  red: (s) => `\x1b[31m${s}\x1b[39m`,
  yellow: (s) => `\x1b[33m${s}\x1b[39m`,
  green: (s) => `\x1b[32m${s}\x1b[39m`,
};

const MARK = { critical: '✖', warning: '▲', info: '·' } as const;

/** A copy with every string terminal-safe: reports carry log lines, remote errors and alert names. */
export function safeForTerminal<T>(value: T): T {
  if (typeof value === 'string') return terminalSafe(value) as T;
  if (Array.isArray(value)) return value.map((v) => safeForTerminal(v)) as T;
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, safeForTerminal(v)])) as T;
  return value;
}

export function renderFinding(finding: Finding, style: Style, evidenceLines = 3): string[] {
  const f = safeForTerminal(finding);
  const color = f.severity === 'critical' ? style.red : f.severity === 'warning' ? style.yellow : style.dim;
  const out = [`${color(`${MARK[f.severity]} ${f.severity.padEnd(8)}`)} ${style.bold(f.title)}`, `             ${f.detail}`];
  const ev = f.evidence ?? [];
  for (const line of ev.slice(0, evidenceLines)) out.push(style.dim(`             │ ${line.slice(0, 160)}`));
  if (ev.length > evidenceLines) out.push(style.dim(`             │ … ${ev.length - evidenceLines} more lines`));
  return out;
}

export function renderStep(outcome: StepOutcome, style: Style): string {
  const o = safeForTerminal(outcome);
  const mark = o.status === 'ok' ? style.green('✔') : o.status === 'failed' ? style.red('✘') : style.yellow('–');
  const detail = o.error ? `  ${o.status === 'failed' ? style.red(o.error) : style.dim(o.error)}` : '';
  return `${mark} ${o.id.padEnd(16)} ${style.dim(`${String(o.durationMs).padStart(5)} ms`)}${o.samples > 1 ? style.dim(` ×${o.samples}`) : ''}${detail}`;
}

/** The readable report printed by `triage investigate` without --json. */
export function renderReport(report: Report, style: Style = PLAIN): string {
  const r = safeForTerminal(report);
  const lines: string[] = [];
  const t = r.target;
  lines.push(style.bold(`triage ${r.runbook} — ${t.service ? `${t.service} on ` : ''}${t.host}:${t.port}${t.pid ? ` (PID ${t.pid})` : ''} via ${t.via}`));
  lines.push(style.dim(`${r.startedAt} · ${r.durationMs} ms · ${r.sampling.samples} sample${r.sampling.samples === 1 ? '' : 's'} ${r.sampling.intervalMs} ms apart`));
  lines.push('');
  if (r.symptom.kind !== null) {
    const counts = Object.entries(r.symptom.counts).map(([k, n]) => `${k} ${n}`).join(', ');
    const sev = r.symptom.kind === 'ok' ? style.green : style.red;
    lines.push(`${style.bold('Symptom')}  ${sev(r.symptom.kind)} — ${describeSymptom(r.symptom.kind)} (${counts})`);
  } else {
    lines.push(`${style.bold('Symptom')}  not measured: ${r.symptom.reason}`);
  }
  lines.push('');
  lines.push(style.bold('Findings'));
  for (const f of r.findings) lines.push(...renderFinding(f, style));
  lines.push('', style.bold('Steps'));
  for (const s of r.steps) lines.push(`  ${renderStep(s, style)}`);
  if (r.warnings.length) {
    lines.push('', style.bold('Warnings'));
    for (const w of r.warnings) lines.push(`  ${style.yellow(w)}`);
  }
  lines.push('', ...renderDiagnosis(r, style));
  return lines.join('\n');
}

/** The chain with each unverified link marked, e.g. `db-pool-saturation → handler-blocked ⇢? close-wait-pileup`. */
export function renderChain(r: Report): string {
  const d = r.diagnosis;
  if (d.chain.length === 0) return '';
  const parts = [String(d.chain[0])];
  for (let i = 1; i < d.chain.length; i++) {
    const link = d.links[i - 1];
    parts.push(link && !link.verified ? ` → (unverified) ${d.chain[i]}` : ` → ${d.chain[i]}`);
  }
  return parts.join('');
}

/** Root cause, chain, what was ruled out, caveats, and recommendations. */
export function renderDiagnosis(report: Report, style: Style = PLAIN): string[] {
  const r = safeForTerminal(report);
  const d = r.diagnosis;
  const lines: string[] = [style.bold('Diagnosis')];
  if (!d.rootCause) {
    lines.push(`  ${style.yellow('no root cause found')}: ${d.caveats[d.caveats.length - 1] ?? ''}`);
  } else {
    const color = d.rootCause.id === 'no-fault-found' ? style.green : style.red;
    lines.push(`  ${color(style.bold(d.rootCause.id))} (confidence ${Math.round(d.rootCause.confidence * 100)}%)`);
    lines.push(...wrap(d.rootCause.summary, 96).map((l) => `  ${l}`));
  }
  if (d.chain.length) {
    lines.push('', `  ${style.bold('Chain')}  ${renderChain(r)}`);
    for (const l of d.links) lines.push(style.dim(`    ${l.verified ? '✔' : '?'} ${l.from} → ${l.to}${l.feedback ? ' (feeds back)' : ''}: ${l.evidence}`));
  }
  if (d.ruledOut.length) {
    lines.push('', `  ${style.bold('Ruled out')}`);
    for (const x of d.ruledOut) lines.push(`    - ${x.id}: ${x.reason}`);
  }
  if (d.caveats.length) {
    lines.push('', `  ${style.bold('Caveats')}`);
    for (const c of d.caveats) lines.push(style.yellow(`    - ${c}`));
  }
  if (r.recommendations.length) {
    lines.push('', style.bold('Recommendations'));
    for (const rec of r.recommendations) lines.push(...wrap(`[${rec.kind}] ${rec.text}`, 96).map((l, i) => `  ${i === 0 ? '- ' : '  '}${l}`));
  }
  return lines;
}

function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line && line.length + 1 + word.length > width) {
      out.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) out.push(line);
  return out;
}

/**
 * Live progress on a terminal: one line per step, redrawn in place as steps start and finish.
 * Without a TTY it prints one line per finished step.
 */
export class ProgressView {
  private readonly rows = new Map<string, string>();
  private drawn = 0;
  private readonly started = new Map<string, number>();

  constructor(
    private readonly write: (s: string) => void,
    private readonly tty: boolean,
    private readonly style: Style,
  ) {}

  onEvent(e: RunEvent): void {
    if (e.type === 'step-started') {
      this.started.set(e.step, performance.now());
      this.rows.set(e.step, `${this.style.yellow('…')} ${e.step.padEnd(16)} ${this.style.dim(e.description)}`);
    } else {
      this.rows.set(e.step, renderStep(e.outcome, this.style));
      if (!this.tty) this.write(`${renderStep(e.outcome, PLAIN)}\n`);
    }
    if (this.tty) this.redraw();
  }

  private redraw(): void {
    const up = this.drawn > 0 ? `\x1b[${this.drawn}A` : '';
    const body = [...this.rows.values()].map((r) => `\x1b[2K${r}`).join('\n');
    this.write(`${up}\r${body}\n`);
    this.drawn = this.rows.size;
  }
}
