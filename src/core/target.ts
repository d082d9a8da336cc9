import { isIP } from 'node:net';
import { InputError } from './errors.js';

/** Where a runbook points: a host (inventory name, DNS name or IP) and the service port on it. */
export interface Target {
  host: string;
  port: number;
}

const HOST_PATTERN = /^(?:[A-Za-z0-9](?:[A-Za-z0-9._-]{0,251}[A-Za-z0-9])?)$/;

/**
 * Parses `host:port` or `[v6]:port` strictly: anything a shell, ssh or a URL would treat specially
 * is refused with a reason, before anything runs.
 */
export function parseTarget(text: string): Target {
  const input = text.trim();
  if (input.length === 0) throw new InputError('target is empty: expected HOST:PORT, e.g. host-35:2133');
  if (input.length > 260) throw new InputError('target is too long: expected HOST:PORT, e.g. host-35:2133');
  let host: string;
  let portText: string;
  const v6 = /^\[([^\]]+)\]:(.*)$/.exec(input);
  if (v6) {
    host = v6[1] ?? '';
    portText = v6[2] ?? '';
    if (isIP(host) !== 6) throw new InputError(`"${printable(host)}" is not an IPv6 address`);
  } else {
    const colon = input.lastIndexOf(':');
    if (colon < 0) throw new InputError(`"${printable(input)}" has no port: expected HOST:PORT, e.g. host-35:2133`);
    host = input.slice(0, colon);
    portText = input.slice(colon + 1);
    if (!HOST_PATTERN.test(host) && isIP(host) === 0) {
      throw new InputError(`"${printable(host)}" is not a host name: use letters, digits, ".", "-" or "_"`);
    }
  }
  if (!/^\d{1,5}$/.test(portText)) throw new InputError(`"${printable(portText)}" is not a port: expected 1-65535`);
  const port = Number(portText);
  if (port < 1 || port > 65535) throw new InputError(`port ${port} is out of range: expected 1-65535`);
  return { host, port };
}

/** One character as the escape both printers show: `\u{1b}`. */
const escapeChar = (c: string): string => `\\u{${c.codePointAt(0)?.toString(16)}}`;

/**
 * Quotes control and non-ASCII characters so an error message cannot smuggle terminal escapes.
 * At most `max` characters of output (escapes count as what they print, and are never cut), then `…`.
 */
export function printable(text: string, max = 60): string {
  let out = '';
  for (const ch of text) {
    const piece = ch >= ' ' && ch <= '~' ? ch : escapeChar(ch);
    if (out.length + piece.length > max) return `${out}…`;
    out += piece;
  }
  return out;
}

/** C0 controls but tab and newline, DEL, C1 controls, bidi embeddings, overrides and isolates: what a terminal obeys. */
const TERMINAL_UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/**
 * Text for a terminal: control and bidi characters escaped as `\u{1b}`, everything else kept, so
 * a log line or an alert name cannot move the cursor, recolour or hide what is printed. Newlines
 * are escaped too unless `keepNewlines` (the bot's own multi-line texts).
 */
export function terminalSafe(text: string, keepNewlines = false): string {
  const escaped = text.replace(TERMINAL_UNSAFE, escapeChar);
  return keepNewlines ? escaped : escaped.replace(/\n/g, '\\n');
}

export function formatTarget(t: Target): string {
  return isIP(t.host) === 6 ? `[${t.host}]:${t.port}` : `${t.host}:${t.port}`;
}
