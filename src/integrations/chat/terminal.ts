import type { Attachment, ChatAdapter, OutMessage, ThreadRef } from './adapter.js';
import { terminalSafe } from '../../core/target.js';
import { PLAIN, renderDiagnosis, renderFinding, safeForTerminal, type Style } from './text-report.js';

const MARK = { running: '…', ok: '✔', failed: '✘', skipped: '–' } as const;

/** Text for a terminal, the same messages Slack gets as Block Kit. */
export function renderText(raw: OutMessage, style: Style = PLAIN): string {
  // The bot's own texts are multi-line; everything else is data, one line per string.
  if (raw.kind === 'text' || raw.kind === 'usage') {
    const text = terminalSafe(raw.text, true);
    return raw.kind === 'text' ? text : style.yellow(text);
  }
  const message = safeForTerminal(raw);
  switch (message.kind) {
    case 'progress':
      return [`Investigating ${message.title}`, ...message.steps.map((s) => `  ${MARK[s.status]} ${s.id}${s.durationMs !== undefined ? ` ${s.durationMs} ms` : ''}${s.error ? `  ${s.error}` : ''}`)].join('\n');
    case 'findings':
      return message.findings.flatMap((f) => renderFinding(f, style)).join('\n');
    case 'diagnosis':
      return [...(message.incidentId ? [style.dim(`incident ${message.incidentId}`)] : []), ...renderDiagnosis(message.report, style)].join('\n');
    case 'approval': {
      const a = message.approval;
      const what = `${a.action.kind} ${a.action.service} on ${a.action.host}:${a.action.port}`;
      if (message.state === 'open') return `${style.bold(`Approve ${what}?`)}\n  command (dry run): ${a.action.argv.join(' ')}\n  blast radius: ${message.blastRadius}\n  type "approve ${a.hash.slice(0, 8)}" or "deny ${a.hash.slice(0, 8)}" (expires ${a.expiresAt})`;
      return `${what}: ${a.status}${a.decidedBy ? ` by ${a.decidedBy}` : ''}${a.decidedAt ? ` at ${a.decidedAt}` : ''}${a.outcome ? ` — ${a.outcome}` : ''}`;
    }
  }
}

/**
 * `triage shell`'s chat: every message printed as it comes. An edit of the progress message prints
 * only the steps that changed since the last print, so the terminal reads like the Slack thread.
 */
export class TerminalChat implements ChatAdapter {
  private seq = 0;
  private readonly shown = new Map<string, Set<string>>();

  constructor(
    private readonly write: (text: string) => void,
    private readonly style: Style = PLAIN,
  ) {}

  async post(channel: string, message: OutMessage, threadTs?: string): Promise<ThreadRef> {
    const ts = String(++this.seq);
    if (message.kind === 'progress') this.shown.set(ts, new Set(message.steps.map((s) => `${s.id}:${s.status}`)));
    this.write(`${threadTs ? '  ' : ''}triage> ${renderText(message, this.style).replace(/\n/g, `\n${threadTs ? '  ' : ''}        `)}\n`);
    return { channel, ts };
  }

  async update(ref: ThreadRef, raw: OutMessage): Promise<void> {
    if (raw.kind !== 'progress') return void this.write(`triage> ${renderText(raw, this.style)}\n`);
    const message = safeForTerminal(raw);
    const seen = this.shown.get(ref.ts) ?? new Set<string>();
    this.shown.set(ref.ts, seen);
    for (const s of message.steps) {
      const key = `${s.id}:${s.status}`;
      if (seen.has(key) || s.status === 'running') continue;
      seen.add(key);
      this.write(`          ${MARK[s.status]} ${s.id}${s.durationMs !== undefined ? ` ${s.durationMs} ms` : ''}${s.error ? `  ${s.error}` : ''}\n`);
    }
  }

  async ephemeral(_channel: string, _user: string, message: OutMessage): Promise<void> {
    this.write(`triage (only you)> ${renderText(message, this.style)}\n`);
  }

  async upload(_thread: ThreadRef, file: Attachment): Promise<void> {
    this.write(`triage> [file ${file.filename}: ${file.title}, ${file.content.split('\n').length} lines]\n`);
  }
}
