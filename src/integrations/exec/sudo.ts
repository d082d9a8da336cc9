import type { CommandResult, Executor, RunOptions } from './executor.js';

/**
 * Does this argv read another user's process? Those are the commands that need `sudo -n` when the
 * SSH user is not the service's user: anything under `/proc/PID/`, `ss` with `-p` (process
 * columns), and `pmap`. Everything else (kernel counters, `ps`, log tails, `date`) runs as is.
 */
export function needsPrivilege(argv: readonly string[]): boolean {
  const [cmd, ...args] = argv;
  if (cmd === 'pmap') return true;
  if (cmd === 'ss' && args.some((a) => /^-[A-Za-z]*p/.test(a))) return true;
  return args.some((a) => /^\/proc\/\d+\//.test(a) || /^\/proc\/\d+$/.test(a));
}

const SUDO_REFUSED = /^sudo: (a password is required|a terminal is required|sorry, you must have a tty)/m;

/**
 * Runs the privileged commands of the runbook through `sudo -n` (never a prompt). A refusal becomes
 * a failed command whose stderr names the rule that is missing, so the step says what to fix.
 */
export class SudoExecutor implements Executor {
  readonly kind: Executor['kind'];
  readonly host: string;

  constructor(private readonly inner: Executor) {
    this.kind = inner.kind;
    this.host = inner.host;
  }

  async run(argv: readonly string[], opts?: RunOptions): Promise<CommandResult> {
    if (!needsPrivilege(argv)) return this.inner.run(argv, opts);
    const res = await this.inner.run(['sudo', '-n', ...argv], opts);
    if (res.exitCode === 1 && SUDO_REFUSED.test(res.stderr)) {
      return { ...res, argv, stderr: `sudo -n refused \`${argv.slice(0, 3).join(' ')} ...\` on ${this.host}: add the rule from SECURITY.md to /etc/sudoers.d\n` };
    }
    return { ...res, argv };
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
