import type { ProbeAttempt, SymptomKind } from '../../core/facts.js';

/** What happened on one probe connection, as observed; `classifyProbe` turns it into a symptom. */
export interface ProbeObservation {
  connected: boolean;
  connectMs?: number;
  /** errno code of the socket error, if any (`ECONNREFUSED`, `ECONNRESET`, `EPIPE`, ...). */
  errorCode?: string;
  /** Our own deadline passed. */
  timedOut: boolean;
  bytesReceived: number;
  firstByteMs?: number;
  /** Status code parsed from the first response line, if one arrived. */
  httpStatus?: number;
  totalMs: number;
}

/** The symptom table of RUNBOOK.md "How a probe tells the symptoms apart". Pure. */
export function classifyProbe(o: ProbeObservation): ProbeAttempt {
  let outcome: SymptomKind;
  if (!o.connected) {
    if (o.errorCode === 'ECONNREFUSED') outcome = 'refused';
    else if (o.timedOut || o.errorCode === 'ETIMEDOUT') outcome = 'connect-timeout';
    else if (o.errorCode === 'ECONNRESET') outcome = 'reset';
    else outcome = 'connect-timeout';
  } else if (o.httpStatus !== undefined) {
    outcome = o.httpStatus >= 500 ? 'http-error' : 'ok';
  } else if (o.bytesReceived > 0) {
    outcome = o.errorCode === 'ECONNRESET' ? 'reset' : o.timedOut ? 'read-timeout' : 'empty-reply';
  } else if (o.errorCode === 'ECONNRESET' || o.errorCode === 'EPIPE') {
    // Also an EOF followed by an RST for the request: the server closed without reading it.
    outcome = 'reset';
  } else if (o.timedOut) {
    outcome = 'read-timeout';
  } else {
    outcome = 'empty-reply';
  }
  const attempt: ProbeAttempt = { outcome, totalMs: round(o.totalMs) };
  if (o.connectMs !== undefined) attempt.connectMs = round(o.connectMs);
  if (o.firstByteMs !== undefined) attempt.firstByteMs = round(o.firstByteMs);
  if (o.httpStatus !== undefined) attempt.httpStatus = o.httpStatus;
  if (o.errorCode !== undefined) attempt.error = o.errorCode;
  else if (o.timedOut) attempt.error = 'timeout';
  return attempt;
}

/** Tie-break between equally common failures: the one that says most about the cause first. */
const SPECIFICITY: readonly SymptomKind[] = ['reset', 'refused', 'connect-timeout', 'read-timeout', 'empty-reply', 'http-error'];

/** The symptom of a set of attempts: the commonest failure, or `ok` when all succeeded. */
export function dominantSymptom(attempts: readonly ProbeAttempt[]): { symptom: SymptomKind; counts: Partial<Record<SymptomKind, number>> } {
  const counts: Partial<Record<SymptomKind, number>> = {};
  for (const a of attempts) counts[a.outcome] = (counts[a.outcome] ?? 0) + 1;
  let symptom: SymptomKind = 'ok';
  let best = 0;
  for (const [kind, n] of Object.entries(counts) as [SymptomKind, number][]) {
    if (kind !== 'ok' && (n > best || (n === best && SPECIFICITY.indexOf(kind) < SPECIFICITY.indexOf(symptom)))) {
      symptom = kind;
      best = n;
    }
  }
  return { symptom, counts };
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
