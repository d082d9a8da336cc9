/**
 * Prometheus text exposition format 0.0.4 parser. Pure, never throws.
 * Handles comments / `# HELP` / `# TYPE` (skipped), labels with escaped `\"`, `\\`, `\n`, a trailing
 * comma in the label set (Micrometer prints one), values `NaN`, `+Inf`, `-Inf`, scientific notation,
 * and an optional integer timestamp (ignored). Lines that do not parse are counted in `badLines`.
 * Work is capped: at most 200,000 lines and lines up to 64 KiB are looked at.
 */

export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const MAX_LINES = 200_000;
const MAX_LINE_LENGTH = 65_536;
const NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME_RE = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const FLOAT_RE = /^[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|0[xX][0-9a-fA-F]+)$/;
const TS_RE = /^-?\d{1,20}$/;

/** Parses a Go `strconv.ParseFloat`-style value. */
export function parsePromValue(s: string): number | null {
  const lower = s.toLowerCase();
  if (lower === 'nan') return NaN;
  if (lower === '+inf' || lower === 'inf') return Infinity;
  if (lower === '-inf') return -Infinity;
  if (!FLOAT_RE.test(s)) return null;
  const v = Number(s);
  return Number.isNaN(v) ? null : v;
}

function parseLabels(line: string, start: number): { labels: Record<string, string>; end: number } | null {
  // `start` is just after `{`.
  const labels: Record<string, string> = Object.create(null) as Record<string, string>;
  let i = start;
  const n = line.length;
  for (;;) {
    while (i < n && (line[i] === ' ' || line[i] === '\t')) i++;
    if (i >= n) return null;
    if (line[i] === '}') return { labels: { ...labels }, end: i + 1 };
    const nm = LABEL_NAME_RE.exec(line.slice(i, i + 1024));
    if (!nm) return null;
    const name = nm[0];
    i += name.length;
    while (i < n && (line[i] === ' ' || line[i] === '\t')) i++;
    if (line[i] !== '=') return null;
    i++;
    while (i < n && (line[i] === ' ' || line[i] === '\t')) i++;
    if (line[i] !== '"') return null;
    i++;
    let value = '';
    let closed = false;
    while (i < n) {
      const c = line[i];
      if (c === '\\') {
        const e = line[i + 1];
        if (e === undefined) return null;
        value += e === 'n' ? '\n' : e === '\\' ? '\\' : e === '"' ? '"' : '\\' + e;
        i += 2;
      } else if (c === '"') {
        closed = true;
        i++;
        break;
      } else {
        value += c;
        i++;
      }
    }
    if (!closed) return null;
    labels[name] = value;
    while (i < n && (line[i] === ' ' || line[i] === '\t')) i++;
    if (line[i] === ',') {
      i++;
      continue;
    }
    if (line[i] === '}') return { labels: { ...labels }, end: i + 1 };
    return null;
  }
}

function parseSampleLine(line: string): PromSample | null {
  const nm = NAME_RE.exec(line);
  if (!nm) return null;
  const name = nm[0];
  let i = name.length;
  let labels: Record<string, string> = {};
  let j = i;
  while (line[j] === ' ' || line[j] === '\t') j++;
  if (line[j] === '{') {
    i = j;
    const parsed = parseLabels(line, i + 1);
    if (!parsed) return null;
    labels = parsed.labels;
    i = parsed.end;
  }
  const rest = line.slice(i).trim().split(/[ \t]+/);
  if (rest.length < 1 || rest.length > 2 || rest[0] === '') return null;
  // Require whitespace between name/labels and value.
  if (!/^[ \t]/.test(line.slice(i))) return null;
  const value = parsePromValue(rest[0] ?? '');
  if (value === null) return null;
  if (rest.length === 2 && !TS_RE.test(rest[1] ?? '')) return null;
  return { name, labels, value };
}

export function parsePrometheusText(text: string): { samples: PromSample[]; badLines: number } {
  const samples: PromSample[] = [];
  let badLines = 0;
  if (typeof text !== 'string') return { samples, badLines };
  let start = 0;
  let n = 0;
  while (start < text.length && n < MAX_LINES) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const raw = text.slice(start, Math.min(end, start + MAX_LINE_LENGTH + 1));
    start = end + 1;
    n++;
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (raw.length > MAX_LINE_LENGTH) {
      badLines++;
      continue;
    }
    const s = parseSampleLine(line);
    if (s) samples.push(s);
    else badLines++;
  }
  return { samples, badLines };
}
