/**
 * What a user types to the bot, parsed. Pure, never throws: every refusal is a one-line,
 * printable reason plus the usage text.
 *
 * Input is a mention's text (`<@U0BOT> connreset host-35:2133`) or a slash command's text
 * (`connreset host-35:2133`). Slack's markup is undone first: user mentions are dropped, links
 * (`<http://host-35:2133|host-35:2133>`, `<mailto:a@b|a@b>`) become their label, `&amp;` `&lt;`
 * `&gt;` are unescaped; then the words are matched against the grammar in `USAGE`.
 */
import { isIP } from 'node:net';
import { InputError } from '../../core/errors.js';
import { parseTarget, printable } from '../../core/target.js';

export type Command =
  | { kind: 'investigate'; runbook: string; target: { host: string; port: number } }
  | { kind: 'help' }
  | { kind: 'runbooks' }
  | { kind: 'status' }
  | { kind: 'incident'; id: string }
  /** The postmortem draft of the incident named, or of the thread's incident when no id is given. */
  | { kind: 'postmortem'; id?: string };

export type ParseResult = { ok: true; command: Command } | { ok: false; reason: string; usage: string };

export const USAGE = [
  'Usage:',
  '  connreset HOST:PORT   investigate a service, e.g. connreset host-35:2133',
  '  runbooks              list the runbooks',
  '  status                open incidents',
  '  incident ID           one incident, e.g. incident inc-mf3k2x-9a8b7c6d',
  '  postmortem [ID]       the postmortem draft (in an incident thread: of that incident)',
  '  help                  this text',
].join('\n');

/** Longest input considered; Slack messages can be 40,000 characters, commands are short. */
const MAX_INPUT = 1000;
const MAX_REASON = 200;
const INCIDENT_ID = /^inc-[a-z0-9]{1,16}-[0-9a-f]{1,32}$/;
/** What a parsed host may contain: a name, an IPv4 address, or (with `:`) an IPv6 address. */
const SAFE_HOST = /^[A-Za-z0-9._-]+$/;
const SAFE_V6 = /^[0-9A-Fa-f:.]+$/;

/**
 * Undoes Slack's message markup: `<@U…>` mentions are removed, `<!here>`-style specials become
 * `@here`, `<#C…|name>` becomes `#name`, links become their label (or the URL without one), and
 * the three entities Slack escapes are unescaped last, so they cannot form markup.
 */
export function unwrapSlack(text: string): string {
  const unwrapped = text.replace(/<([^<>]*)>/g, (_, inner: string) => {
    const bar = inner.indexOf('|');
    const body = bar >= 0 ? inner.slice(0, bar) : inner;
    const label = bar >= 0 ? inner.slice(bar + 1) : '';
    if (body.startsWith('@')) return ' ';
    if (body.startsWith('!')) return ` @${label || body.slice(1)} `;
    if (body.startsWith('#')) return ` #${label || body.slice(1)} `;
    return label || body;
  });
  return unwrapped.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

/** Parses a mention's or slash command's text into a command, or says why not. */
export function parseCommand(text: string, knownRunbooks: readonly string[]): ParseResult {
  try {
    return parse(text, knownRunbooks);
  } catch (err) {
    // Defensive: the parser itself should never throw.
    return refuse(`could not read the command: ${err instanceof Error ? err.message : 'unknown error'}`);
  }
}

function parse(text: string, knownRunbooks: readonly string[]): ParseResult {
  const raw = typeof text === 'string' ? text : '';
  if (raw.length > MAX_INPUT) return refuse(`the message is too long (${raw.length} characters); expected a short command`);
  // Slack markup first, then whitespace (any Unicode space; zero-width characters stay in words).
  const words = unwrapSlack(raw).split(/\s+/).filter((w) => w.length > 0);
  if (words.length === 0) return accept({ kind: 'help' });

  let [verb = '', ...args] = words;
  let name = verb.toLowerCase();
  if (name === 'investigate') {
    if (args.length === 0) return refuse(`investigate needs a runbook and a target: ${example(knownRunbooks)}`);
    [verb = '', ...args] = args;
    name = verb.toLowerCase();
    if (!knownRunbooks.some((r) => r.toLowerCase() === name)) return unknownRunbook(verb, knownRunbooks);
  }

  switch (name) {
    case 'help':
    case 'runbooks':
    case 'status':
      if (args.length > 0) return refuse(`${name} takes no arguments, got "${printable(args.join(' '), 40)}"`);
      return accept({ kind: name });
    case 'postmortem': {
      const [id, ...extra] = args;
      if (extra.length > 0) return refuse(`unexpected "${printable(extra.join(' '), 40)}" after the incident ID`);
      if (id === undefined) return accept({ kind: 'postmortem' });
      const lower = id.toLowerCase();
      if (!INCIDENT_ID.test(lower)) return refuse(`"${printable(id, 40)}" is not an incident ID (inc-<time>-<hex>, e.g. inc-mf3k2x-9a8b7c6d)`);
      return accept({ kind: 'postmortem', id: lower });
    }
    case 'incident': {
      const [id, ...extra] = args;
      if (id === undefined) return refuse('incident needs an ID, e.g. incident inc-mf3k2x-9a8b7c6d');
      if (extra.length > 0) return refuse(`unexpected "${printable(extra.join(' '), 40)}" after the incident ID`);
      const lower = id.toLowerCase();
      if (!INCIDENT_ID.test(lower)) return refuse(`"${printable(id, 40)}" is not an incident ID (inc-<time>-<hex>, e.g. inc-mf3k2x-9a8b7c6d)`);
      return accept({ kind: 'incident', id: lower });
    }
  }

  const runbook = knownRunbooks.find((r) => r.toLowerCase() === name);
  if (runbook === undefined) return unknownRunbook(verb, knownRunbooks);
  const [targetText, ...extra] = args;
  if (targetText === undefined) return refuse(`${runbook} needs a target: ${runbook} HOST:PORT, e.g. ${runbook} host-35:2133`);
  if (extra.length > 0) return refuse(`unexpected "${printable(extra.join(' '), 40)}" after the target: expected ${runbook} HOST:PORT`);
  let target: { host: string; port: number };
  try {
    target = parseTarget(targetText);
  } catch (err) {
    if (err instanceof InputError) return refuse(err.message);
    throw err;
  }
  // parseTarget accepts what Node's isIP accepts, which includes IPv6 zone ids (`fe80::1%eth0`):
  // only plain names and addresses go any further.
  const v6 = isIP(target.host) === 6;
  if (!(SAFE_HOST.test(target.host) || (v6 && SAFE_V6.test(target.host)))) {
    return refuse(`"${printable(target.host, 60)}" is not a host name: use letters, digits, ".", "-" or "_"`);
  }
  return accept({ kind: 'investigate', runbook, target: { host: target.host, port: target.port } });
}

function accept(command: Command): ParseResult {
  return { ok: true, command };
}

/** A one-line, printable reason of bounded length. */
function refuse(reason: string): ParseResult {
  const line = reason.replace(/[^\x20-\x7e\u2026]/g, (c) => printable(c)).replace(/\s+/g, ' ').trim();
  return { ok: false, reason: line.length > MAX_REASON ? `${line.slice(0, MAX_REASON - 1)}…` : line, usage: USAGE };
}

function example(knownRunbooks: readonly string[]): string {
  const first = knownRunbooks[0] ?? 'connreset';
  return `e.g. investigate ${printable(first, 30)} host-35:2133`;
}

function unknownRunbook(word: string, knownRunbooks: readonly string[]): ParseResult {
  const known = knownRunbooks.length ? knownRunbooks.map((r) => printable(r, 30)).join(', ') : 'none';
  return refuse(`unknown command or runbook "${printable(word, 40)}": runbooks are ${known.length > 80 ? `${known.slice(0, 79)}…` : known}; also runbooks, status, incident ID, help`);
}
