/**
 * Parsers for /proc files and small command outputs (`find -printf`, `tail`, `ps`, `ss -p`).
 * Pure functions: no I/O, never throw; garbage lines are skipped, null/empty when nothing parses.
 */
import type { FdKindCounts } from '../../core/facts.js';
import { parseSsAddress } from './ss.js';

const MAX_LINES = 500_000;
const INT_RE = /^\d{1,15}$/;

/** Iterates the lines of `text` (at most `max`), without splitting huge input up front; `sep` NUL for `-printf '...\0'`. */
function* lines(text: string, max = MAX_LINES, sep: '\n' | '\0' = '\n'): Generator<string> {
  if (typeof text !== 'string') return;
  let start = 0;
  let n = 0;
  while (start < text.length && n < max) {
    let end = text.indexOf(sep, start);
    if (end < 0) end = text.length;
    let line = text.slice(start, end);
    if (sep === '\n' && line.endsWith('\r')) line = line.slice(0, -1);
    start = end + 1;
    n++;
    yield line;
  }
}

export type LimitRow = { soft: number | null; hard: number | null; units: string | null };

const LIMIT_RE = /^(\S.*?)\s{2,}(unlimited|\d{1,20})\s+(unlimited|\d{1,20})(?:\s+(\S+))?\s*$/;

/** `/proc/PID/limits`: rows keyed by the limit name (`Max open files`); `unlimited` → null. */
export function parseLimits(text: string): Record<string, LimitRow> {
  const out: Record<string, LimitRow> = {};
  for (const line of lines(text, 1000)) {
    if (line.length > 300) continue;
    const m = LIMIT_RE.exec(line);
    if (!m) continue;
    const name = (m[1] ?? '').trim();
    if (name === '' || name === 'Limit') continue;
    const num = (v: string | undefined): number | null => (v === undefined || v === 'unlimited' ? null : Number(v));
    out[name] = { soft: num(m[2]), hard: num(m[3]), units: m[4] ?? null };
  }
  return out;
}

/** The `Max open files` row of `/proc/PID/limits`, null when absent. */
export function nofileLimit(text: string): { soft: number | null; hard: number | null } | null {
  const row = parseLimits(text)['Max open files'];
  return row ? { soft: row.soft, hard: row.hard } : null;
}

export interface FdListing {
  count: number;
  byKind: FdKindCounts;
  topFiles: { path: string; count: number }[];
  /** Open files by directory and name pattern (see `groupFiles`), at most 10. */
  fileGroups: { pattern: string; count: number; distinct: number }[];
  socketInodes: number[];
  filePaths: string[];
}

/**
 * Output of `find /proc/PID/fd -mindepth 1 -maxdepth 1 -printf '%f %l\0'`: `<fd> <link target>`,
 * NUL-terminated so that a file name with a newline stays one entry and cannot forge another
 * (newline-separated listings, as older fixtures hold, are read too).
 * Kinds: `socket:[N]`, `pipe:[N]`, `anon_inode:...`, file (target starts with `/`, including
 * `/path (deleted)`, kept as printed), anything else is `other` (`net:[...]`, `/memfd:` is a file).
 */
export function parseFdListing(text: string): FdListing {
  const byKind: FdKindCounts = { socket: 0, pipe: 0, anon_inode: 0, file: 0, other: 0 };
  const files = new Map<string, number>();
  const socketInodes: number[] = [];
  let count = 0;
  const sep = typeof text === 'string' && text.includes('\0') ? '\0' : '\n';
  for (const line of lines(text, MAX_LINES, sep)) {
    const sp = line.indexOf(' ');
    if (sp <= 0) continue;
    const fd = line.slice(0, sp);
    if (!INT_RE.test(fd)) continue;
    const target = line.slice(sp + 1);
    if (target.length === 0) continue;
    count++;
    if (target.startsWith('socket:[')) {
      byKind.socket++;
      const m = /^socket:\[(\d{1,15})\]$/.exec(target);
      if (m) socketInodes.push(Number(m[1]));
    } else if (target.startsWith('pipe:')) {
      byKind.pipe++;
    } else if (target.startsWith('anon_inode:')) {
      byKind.anon_inode++;
    } else if (target.startsWith('/')) {
      byKind.file++;
      files.set(target, (files.get(target) ?? 0) + 1);
    } else {
      byKind.other++;
    }
  }
  const topFiles = [...files.entries()]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .slice(0, 10)
    .map(([path, c]) => ({ path, count: c }));
  const fileGroups = groupFiles([...files.entries()].map(([path, c]) => ({ path, count: c }))).slice(0, 10);
  return { count, byKind, topFiles, fileGroups, socketInodes, filePaths: [...files.keys()] };
}

const UUID_RE = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;
const HEX_RE = /(?<![A-Za-z])[0-9a-f]{8,}(?![A-Za-z])/gi;
const DIGITS_RE = /\d+/g;

/** A file path's pattern: its directory kept, UUIDs, hex runs of 8+ and digit runs in the name collapsed to `*`. */
export function filePattern(path: string): string {
  const slash = path.lastIndexOf('/');
  const dir = path.slice(0, slash + 1).replace(UUID_RE, '*').replace(HEX_RE, '*').replace(/(?<=\/)\d+(?=\/)/g, '*');
  const name = path.slice(slash + 1).replace(UUID_RE, '*').replace(HEX_RE, '*').replace(DIGITS_RE, '*').replace(/\*+/g, '*');
  return dir + name;
}

/** Open files by pattern: descriptors and distinct paths per pattern, most descriptors first. */
export function groupFiles(files: readonly { path: string; count: number }[]): { pattern: string; count: number; distinct: number }[] {
  const groups = new Map<string, { pattern: string; count: number; distinct: number }>();
  for (const f of files) {
    const pattern = filePattern(f.path);
    const g = groups.get(pattern) ?? { pattern, count: 0, distinct: 0 };
    g.count += f.count;
    g.distinct += 1;
    groups.set(pattern, g);
  }
  return [...groups.values()].sort((a, b) => b.count - a.count || (a.pattern < b.pattern ? -1 : a.pattern > b.pattern ? 1 : 0));
}

/** `/proc/sys/fs/file-nr`: `allocated unused max`. */
export function parseFileNr(text: string): { allocated: number; unused: number; max: number } | null {
  if (typeof text !== 'string') return null;
  const m = /^\s*(\d{1,20})\s+(\d{1,20})\s+(\d{1,20})\s*$/.exec(text.slice(0, 200).split('\n')[0] ?? '');
  if (!m) return null;
  return { allocated: Number(m[1]), unused: Number(m[2]), max: Number(m[3]) };
}

const NUM_RE = /^-?\d{1,25}$/;

/**
 * `/proc/net/netstat` and `/proc/net/snmp` (and their concatenation): pairs of lines
 * `Prefix: Name1 Name2 ...` / `Prefix: 1 2 ...`. Sections with the same prefix are merged.
 * A value line only counts when it follows a header of the same prefix with the same number of fields.
 */
export function parseSnmpTables(text: string): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  let header: { prefix: string; names: string[] } | null = null;
  for (const line of lines(text, 10_000)) {
    const colon = line.indexOf(':');
    if (colon <= 0 || colon > 64) {
      header = null;
      continue;
    }
    const prefix = line.slice(0, colon);
    if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(prefix)) {
      header = null;
      continue;
    }
    const fields = line.slice(colon + 1).trim().split(/\s+/).filter((f) => f.length > 0);
    if (fields.length === 0) continue;
    if (fields.every((f) => NUM_RE.test(f))) {
      if (header && header.prefix === prefix && header.names.length === fields.length) {
        const table = (out[prefix] ??= {});
        header.names.forEach((name, k) => {
          table[name] = Number(fields[k]);
        });
      }
      header = null;
    } else if (fields.every((f) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(f))) {
      header = { prefix, names: fields };
    } else {
      header = null;
    }
  }
  return out;
}

const TAIL_HEADER_RE = /^==> (.*) <==$/gm;

/**
 * Output of `tail -n N -- fileA fileB ...`. GNU tail prints `==> fileA <==\n` before the first file and
 * `\n==> fileB <==\n` before each further one, so the content of each section is exactly the bytes
 * tail printed for that file (a file that did not end with a newline is followed directly by the
 * header). A single file prints no header: one section with path `''`.
 * Limitation: a content line that is exactly of the form `==> X <==` (and preceded by a newline) is
 * taken as a header; tail's output is ambiguous there.
 */
export function parseTailSections(text: string): { path: string; content: string }[] {
  if (typeof text !== 'string' || text.length === 0) return [];
  const headers: { index: number; end: number; path: string }[] = [];
  TAIL_HEADER_RE.lastIndex = 0;
  let m: RegExpExecArray | null;
  let guard = 0;
  while ((m = TAIL_HEADER_RE.exec(text)) !== null && guard++ < 100_000) {
    if (m[0].length === 0) {
      TAIL_HEADER_RE.lastIndex++;
      continue;
    }
    // The first header must open the text; later ones follow the separator newline.
    if (headers.length === 0 && m.index !== 0) break;
    headers.push({ index: m.index, end: m.index + m[0].length, path: m[1] ?? '' });
  }
  if (headers.length === 0) return [{ path: '', content: text }];
  const out: { path: string; content: string }[] = [];
  headers.forEach((h, k) => {
    const contentStart = Math.min(text.length, h.end + 1); // skip the header's own newline
    const next = headers[k + 1];
    // A following header is preceded by tail's separator newline; drop it.
    const contentEnd = next ? Math.max(contentStart, next.index - 1) : text.length;
    out.push({ path: h.path, content: text.slice(contentStart, contentEnd) });
  });
  return out;
}

/**
 * `ps -o pid=,user=,etimes=,args= -p PID`: first row that parses. `user` is printed as a numeric uid
 * when the name is longer than the column or the uid has no name. `args` may be empty.
 */
export function parsePsLine(text: string): { pid: number; user: string; elapsedSec: number; args: string } | null {
  for (const line of lines(text, 1000)) {
    if (line.length > 100_000) continue;
    const m = /^\s*(\d{1,10})\s+(\S+)\s+(\d{1,15})(?:\s+(.*?))?\s*$/.exec(line);
    if (!m) continue;
    return { pid: Number(m[1]), user: m[2] ?? '', elapsedSec: Number(m[3]), args: m[4] ?? '' };
  }
  return null;
}

/**
 * `ss -Hltnp '( sport = :PORT )'`: distinct pids (in order of appearance) from
 * `users:(("node",pid=1234,fd=20),...)` on rows whose local port is `port`.
 */
export function parseListenerPids(text: string, port: number): number[] {
  const pids: number[] = [];
  const seen = new Set<number>();
  for (const line of lines(text, 100_000)) {
    if (line.length > 100_000) continue;
    const u = line.indexOf('users:(');
    if (u < 0) continue;
    const tokens = line.slice(0, u).trim().split(/\s+/);
    // Local address is the 4th token with a State column, the 3rd without.
    const localTok = /^\d+$/.test(tokens[0] ?? '') ? tokens[2] : tokens[3];
    const local = localTok === undefined ? null : parseSsAddress(localTok);
    if (!local || local.port !== port) continue;
    const re = /[(,]pid=(\d{1,10})\b/g;
    const users = line.slice(u);
    let m: RegExpExecArray | null;
    while ((m = re.exec(users)) !== null) {
      const pid = Number(m[1]);
      if (!seen.has(pid)) {
        seen.add(pid);
        pids.push(pid);
      }
    }
  }
  return pids;
}
