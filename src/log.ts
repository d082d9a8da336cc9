import { pino, type Logger } from 'pino';

export type { Logger };

/** JSON lines on stdout; secrets in known fields are redacted. */
export function createLogger(level: string, name: string): Logger {
  return pino({
    name,
    level,
    redact: { paths: ['token', 'password', 'secret', 'authorization', '*.token', '*.password', '*.secret', '*.authorization', 'headers.authorization'], censor: '[REDACTED]' },
  });
}
