import type { Settings } from '../../config.js';
import { TriageError } from '../../core/errors.js';
import type { Incident, IncidentThread, Trigger } from '../../core/incident.js';
import { formatTarget } from '../../core/target.js';
import { resolveTarget } from '../../engine/investigate.js';
import type { Report } from '../../engine/report.js';
import type { RunEvent } from '../../engine/run.js';
import { RUNBOOKS } from '../../runbooks/index.js';
import { event, type IncidentStore } from '../store/store.js';
import type { ChatAdapter, OutMessage, ThreadRef } from './adapter.js';
import { parseCommand, USAGE } from './commands.js';
import { draftPostmortem } from '../../postmortem/index.js';

/** How a target reads in the thread: `checkout on host-35:2133`, or just the target without a service. */
export function describeTarget(settings: Settings, target: { host: string; port: number }): string {
  const svc = Object.entries(settings.config.services).find(([, s]) => s.port === target.port && s.instances.includes(target.host))?.[0];
  return `${svc ? `${svc} on ` : ''}${formatTarget(target)}`;
}

/** What someone typed, and where. */
export interface Said {
  channel: string;
  user: string;
  text: string;
  /** The thread it was said in, or the message itself for a new thread (mentions); absent for slash commands. */
  threadTs?: string;
  via: 'mention' | 'slash' | 'shell';
}

/** Starts the investigation of a new incident: enqueue it (service) or run it now (shell). */
export type Launcher = (incident: Omit<Incident, 'alerts'>) => Promise<void>;

/**
 * The conversation, written once for every chat: parse what was said, answer usage errors
 * privately, refuse hosts outside the inventory, open (or join) the incident and its thread, and
 * hand the investigation to the launcher. It never runs a command itself.
 */
export class Conversation {
  constructor(
    private readonly deps: { settings: Settings; store: IncidentStore; chat: ChatAdapter; launch: Launcher; local?: boolean },
  ) {}

  async onSaid(said: Said): Promise<void> {
    const { chat, store } = this.deps;
    const parsed = parseCommand(said.text, Object.keys(RUNBOOKS));
    const privately = (message: OutMessage) => chat.ephemeral(said.channel, said.user, message, said.threadTs);
    if (!parsed.ok) return privately({ kind: 'usage', text: `${parsed.reason}\n${parsed.usage}` });
    const cmd = parsed.command;
    switch (cmd.kind) {
      case 'help':
        return privately({ kind: 'usage', text: USAGE });
      case 'runbooks':
        return privately({ kind: 'text', text: Object.values(RUNBOOKS).map((r) => `${r.id}: ${r.description} (steps: ${r.steps.map((s) => s.id).join(', ')})`).join('\n') });
      case 'status': {
        const open = await store.list({ open: true, limit: 20 });
        const lines = await Promise.all(
          open.map(async (i) => {
            const link = i.thread ? ((await chat.link?.(i.thread)) ?? `thread ${i.thread.channel}/${i.thread.ts}`) : null;
            return `${i.id} ${i.status} ${i.runbook} ${i.target}${i.report?.diagnosis.rootCause ? `: ${i.report.diagnosis.rootCause.id}` : ''}${link ? ` ${link}` : ''}`;
          }),
        );
        return privately({ kind: 'text', text: lines.length ? `Open incidents:\n${lines.join('\n')}` : 'No open incidents.' });
      }
      case 'incident': {
        const inc = await store.get(cmd.id);
        if (!inc) return privately({ kind: 'usage', text: `no incident ${cmd.id}` });
        if (inc.report) return void (await chat.post(said.channel, { kind: 'diagnosis', report: inc.report, incidentId: inc.id }, said.threadTs));
        return privately({ kind: 'text', text: `${inc.id}: ${inc.status} — ${inc.runbook} on ${inc.target}${inc.error ? ` (${inc.error})` : ''}` });
      }
      case 'postmortem': {
        const inc = cmd.id ? await store.get(cmd.id) : (await store.list({ limit: 200 })).find((i) => i.thread?.ts === said.threadTs && i.thread?.channel === said.channel);
        if (!inc) return privately({ kind: 'usage', text: cmd.id ? `no incident ${cmd.id}` : 'no incident in this thread: say postmortem ID' });
        const pm = draftPostmortem({ incident: inc, timeline: await store.timeline(inc.id), now: new Date() });
        const where = inc.thread ?? (said.threadTs ? { channel: said.channel, ts: said.threadTs } : null);
        if (!where) return privately({ kind: 'text', text: pm.markdown });
        await chat.upload(where, { filename: `postmortem-${inc.id}.md`, title: `Postmortem draft: ${inc.runbook} on ${inc.target}`, content: pm.markdown });
        await chat.post(where.channel, { kind: 'text', text: `Postmortem draft for ${inc.id} attached (also: triage postmortem ${inc.id}).` }, where.ts);
        return;
      }
      case 'investigate':
        return this.investigate(said, cmd.runbook, cmd.target);
    }
  }

  private async investigate(said: Said, runbook: string, target: { host: string; port: number }): Promise<void> {
    const { chat, store, settings } = this.deps;
    let resolved;
    try {
      resolved = resolveTarget(target, settings, this.deps.local ?? false);
    } catch (err) {
      const reason = err instanceof TriageError ? err.message : String(err);
      return chat.ephemeral(said.channel, said.user, { kind: 'usage', text: `${reason}\n${USAGE}` }, said.threadTs);
    }
    const where = describeTarget(settings, { host: resolved.name, port: resolved.port });
    const trigger: Trigger = said.via === 'shell' ? { kind: 'shell' } : { kind: said.via, user: said.user, channel: said.channel };
    const opened = await store.openOrJoin({ runbook, target: `${resolved.name}:${resolved.port}`, trigger, now: new Date() });
    const inc = opened.incident;
    if (!opened.created) {
      const there = inc.thread ? ` — see the thread ${inc.thread.channel}/${inc.thread.ts}` : '';
      await chat.post(said.channel, { kind: 'text', text: `Already on it: incident ${inc.id} (${inc.status}) for ${where}${there}.` }, said.threadTs);
      return;
    }
    // Slash commands have no thread: open one with a root message. The chat failing must not lose
    // the incident: it is investigated anyway, and the failure is in its timeline.
    let thread: IncidentThread | undefined = said.threadTs ? { channel: said.channel, ts: said.threadTs } : undefined;
    let chatError: string | null = null;
    try {
      const root: ThreadRef = thread ?? (await chat.post(said.channel, { kind: 'text', text: `Incident ${inc.id}: ${runbook} on ${where}, asked by ${said.user}` }));
      thread = { channel: root.channel, ts: root.ts };
      const progress = await chat.post(said.channel, { kind: 'progress', title: `${where} — runbook ${runbook}`, steps: [] }, root.ts);
      thread = { ...thread, progressTs: progress.ts };
    } catch (err) {
      chatError = (err as Error).message;
    }
    await store.update(inc.id, thread ? { thread } : {}, event('investigation-queued', `asked by ${said.user} via ${said.via}`, new Date()));
    if (chatError !== null) await store.append(inc.id, event('notify-failed', `could not open the thread's progress message: ${chatError}`, new Date()));
    await this.deps.launch(thread ? { ...inc, thread } : inc);
  }
}

/**
 * Reports one investigation into its thread: the progress message edited in place (coalesced to
 * one edit per `minEditMs`), findings as steps finish, then the diagnosis and long evidence as files.
 */
export class ThreadReporter {
  private readonly steps = new Map<string, { id: string; status: 'running' | 'ok' | 'failed' | 'skipped'; durationMs?: number; error?: string }>();
  private lastEdit = 0;
  private pending: NodeJS.Timeout | null = null;
  private editing: Promise<void> = Promise.resolve();
  private posting: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly chat: ChatAdapter,
    private readonly thread: { channel: string; ts: string; progressTs?: string },
    private readonly title: string,
    private readonly minEditMs: number,
    private readonly onError: (err: Error) => void = () => {},
  ) {}

  onEvent(e: RunEvent): void {
    if (e.type === 'step-started') this.steps.set(e.step, { id: e.step, status: 'running' });
    else {
      this.steps.set(e.step, { id: e.step, status: e.outcome.status, durationMs: e.outcome.durationMs, ...(e.outcome.error ? { error: e.outcome.error } : {}) });
      const worth = e.findings.filter((f) => f.severity !== 'info');
      if (worth.length) this.posting = this.posting.then(() => this.chat.post(this.thread.channel, { kind: 'findings', step: e.step, findings: worth }, this.thread.ts)).catch((err: Error) => this.onError(err));
    }
    this.scheduleEdit();
  }

  private progress(): OutMessage {
    return { kind: 'progress', title: this.title, steps: [...this.steps.values()] };
  }

  private scheduleEdit(): void {
    if (!this.thread.progressTs || this.pending) return;
    const wait = Math.max(0, this.lastEdit + this.minEditMs - Date.now());
    this.pending = setTimeout(() => {
      this.pending = null;
      this.lastEdit = Date.now();
      this.editing = this.editing.then(() => this.chat.update({ channel: this.thread.channel, ts: this.thread.progressTs as string }, this.progress())).catch((err: Error) => this.onError(err));
    }, wait);
  }

  /** The final edit, the diagnosis, and files for evidence too long for a message. */
  async finish(report: Report, incidentId: string, files: { filename: string; title: string; content: string }[]): Promise<void> {
    if (this.pending) {
      clearTimeout(this.pending);
      this.pending = null;
    }
    await this.posting;
    await this.editing;
    if (this.thread.progressTs) await this.chat.update({ channel: this.thread.channel, ts: this.thread.progressTs }, this.progress()).catch((err: Error) => this.onError(err));
    for (const f of files) await this.chat.upload({ channel: this.thread.channel, ts: this.thread.ts }, f).catch((err: Error) => this.onError(err));
    await this.chat.post(this.thread.channel, { kind: 'diagnosis', report, incidentId }, this.thread.ts);
  }

  async fail(message: string): Promise<void> {
    if (this.pending) clearTimeout(this.pending);
    await this.posting;
    await this.chat.post(this.thread.channel, { kind: 'text', text: `Investigation failed: ${message}` }, this.thread.ts);
  }
}
