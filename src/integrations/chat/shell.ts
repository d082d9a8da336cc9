import { createInterface } from 'node:readline';
import { userInfo } from 'node:os';
import type { Settings } from '../../config.js';
import { TriageError } from '../../core/errors.js';
import { parseTarget } from '../../core/target.js';
import { investigate } from '../../engine/investigate.js';
import { getRunbook } from '../../runbooks/index.js';
import { MemoryIncidentStore } from '../store/memory.js';
import { event } from '../store/store.js';
import { Conversation, describeTarget, ThreadReporter } from './conversation.js';
import { TerminalChat } from './terminal.js';
import type { Style } from './text-report.js';

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
    // People type it the way they would in Slack: "@triage connreset host:port".
    await conversation.onSaid({ channel: 'terminal', user, text: text.replace(/^@triage\b[:,]?\s*/i, ''), threadTs: 'terminal', via: 'shell' });
    await running;
  }
}
