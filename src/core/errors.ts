/** Stable error codes: code other parts of the system (CLI exit codes, chat replies) switch on. */
export type ErrorCode =
  | 'input_invalid'
  | 'host_unknown'
  | 'runbook_unknown'
  | 'config_invalid'
  | 'ssh_auth'
  | 'ssh_host_key'
  | 'ssh_connect'
  | 'ssh_timeout'
  | 'ssh_dropped'
  | 'command_timeout'
  | 'command_failed'
  | 'step_timeout'
  | 'aborted'
  | 'parse_failed'
  | 'not_found';

/** Base of every error triage raises on purpose; `code` is what callers branch on, never the message. */
export class TriageError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Bad input from a user, a config file or a webhook: never retried, exit code 2 on the CLI. */
export class InputError extends TriageError {
  constructor(message: string, code: ErrorCode = 'input_invalid') {
    super(code, message);
  }
}

/** Turns anything thrown into a TriageError with a one-line message, keeping the original as `cause`. */
export function asTriageError(err: unknown, fallback: ErrorCode = 'command_failed'): TriageError {
  if (err instanceof TriageError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new TriageError(fallback, message.split('\n')[0] ?? message, { cause: err });
}
