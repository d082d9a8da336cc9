/** Minimal `--key value` / `--flag` argv parser for the lab's standalone entries. */

export type ParsedArgs = Map<string, string>;

export function parseArgs(argv: readonly string[]): ParsedArgs {
  const out: ParsedArgs = new Map();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === undefined || !a.startsWith('--')) {
      throw new Error(`unexpected argument "${a ?? ''}"`);
    }
    const eq = a.indexOf('=');
    if (eq > 0) {
      out.set(a.slice(2, eq), a.slice(eq + 1));
      continue;
    }
    const next = argv[i + 1];
    if (next !== undefined && !next.startsWith('--')) {
      out.set(a.slice(2), next);
      i++;
    } else {
      out.set(a.slice(2), 'true');
    }
  }
  return out;
}

export function argString(args: ParsedArgs, key: string, dflt?: string): string {
  const v = args.get(key) ?? dflt;
  if (v === undefined) throw new Error(`missing --${key}`);
  return v;
}

export function argNumber(args: ParsedArgs, key: string, dflt?: number): number {
  const raw = args.get(key);
  if (raw === undefined) {
    if (dflt === undefined) throw new Error(`missing --${key}`);
    return dflt;
  }
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${key} must be a non-negative number, got "${raw}"`);
  return n;
}
