import { createInterface } from 'node:readline';
import { userInfo } from 'node:os';
import type { Settings } from '../config.js';
import { TriageError } from '../core/errors.js';
import { parseTarget } from '../core/target.js';
import { investigate } from '../engine/investigate.js';
import { getRunbook } from '../runbooks/index.js';
import { MemoryIncidentStore } from '../integrations/store/memory.js';
import { event } from '../integrations/store/store.js';
import { Conversation, describeTarget, ThreadReporter } from '../integrations/chat/conversation.js';
import { TerminalChat } from '../integrations/chat/terminal.js';
import type { Approval } from '../core/incident.js';
import { createLogger } from '../log.js';
import { decide, proposeActions, runApproved } from './actions.js';
import { NodeNet } from '../integrations/net/node-net.js';
import type { Style } from '../integrations/chat/text-report.js';

/** Evidence that did not fit a message, as a file; the terminal names it. */
function attachments(findings: { id: string; title: string; evidence?: string[] }[]) {
  return findings.filter((f) => (f.evidence?.length ?? 0) > 3).map((f) => ({ filename: `${f.id}.txt`, title: f.title, content: (f.evidence ?? []).join('\n') }));
}

/**
 * `triage shell`: the Slack conversation in a terminal. Type what you would type to @triage;
 * investigations run in this process (over SSH per the config, or on this machine with --local).
 */
export async function runShell(o: { settings: Settings; local: boolean; input: NodeJS.ReadableStream; write: (s: string) => void; style: Style; signal: AbortSignal }): Promise<void> {
  const store = new MemoryIncidentStore();
  const chat = new TerminalChat(o.write, o.style);
  const user = (() => {
    try {
      return userInfo().username;
    } catch {
      return 'you';
    }
  })();
  let running: Promise<void> = Promise.resolve();
  const pending: Approval[] = [];
  // At the terminal, the person typing decides — unless the two-person rule asks for someone else.
  const shellSettings: Settings = { ...o.settings, config: { ...o.settings.config, approvals: { ...o.settings.config.approvals, approvers: [user] } } };
  const actionDeps = { settings: shellSettings, store, chat, net: new NodeNet(), log: createLogger('silent', 'triage-shell') };
  const conversation = new Conversation({
    settings: o.settings,
    store,
    chat,
    local: o.local,
    launch: async (inc) => {
      const thread = inc.thread;
      const reporter = thread ? new ThreadReporter(chat, thread, `${describeTarget(o.settings, parseTarget(inc.target))} — runbook ${inc.runbook}`, 0) : null;
      running = (async () => {
        await store.update(inc.id, { status: 'investigating' }, event('investigation-started', 'in the shell', new Date()));
        try {
          const report = await investigate({ runbook: getRunbook(inc.runbook), target: parseTarget(inc.target), settings: o.settings, local: o.local, signal: o.signal, onEvent: (e) => reporter?.onEvent(e) });
          await store.update(inc.id, { status: 'diagnosed', report });
          await reporter?.finish(report, inc.id, attachments(report.findings));
          const diagnosed = await store.get(inc.id);
          if (diagnosed && !o.local) pending.push(...(await proposeActions(diagnosed, actionDeps).catch(() => [])));
        } catch (err) {
          const msg = err instanceof TriageError ? err.message : String(err);
          await store.update(inc.id, { status: 'failed', error: msg });
          await reporter?.fail(msg);
        }
      })();
      await running;
    },
  });
  o.write(`triage shell — type what you would say to @triage (${'help'} for commands, Ctrl-D to leave)\n`);
  const rl = createInterface({ input: o.input, terminal: false });
  o.signal.addEventListener('abort', () => rl.close(), { once: true });
  for await (const line of rl) {
    const text = line.trim();
    if (text === '') continue;
    if (text === 'exit' || text === 'quit') break;
    const decision = /^(approve|deny)(?:\s+([0-9a-f]{4,32}))?$/i.exec(text);
    if (decision) {
      const approve = decision[1]?.toLowerCase() === 'approve';
      const open = pending.filter((a) => !decision[2] || a.hash.startsWith(decision[2].toLowerCase()));
      if (open.length !== 1) {
        o.write(`triage (only you)> ${open.length === 0 ? 'nothing waits for a decision' : `${open.length} actions wait: say approve <id>`}\n`);
        continue;
      }
      const a = open[0] as Approval;
      if (o.settings.config.approvals.twoPersonRule) {
        o.write('triage (only you)> two-person rule: someone else must approve this, in Slack\n');
        continue;
      }
      const d = await decide({ hash: a.hash, user, approve, channel: a.message?.channel ?? 'terminal', messageTs: a.message?.ts ?? '' }, actionDeps);
      o.write(`triage (only you)> ${d.reply}\n`);
      pending.splice(pending.indexOf(a), 1);
      if (d.run) await runApproved(a.hash, actionDeps);
      continue;
    }
    // People type it the way they would in Slack: "@triage connreset host:port".
    await conversation.onSaid({ channel: 'terminal', user, text: text.replace(/^@triage\b[:,]?\s*/i, ''), threadTs: 'terminal', via: 'shell' });
    await running;
  }
}
