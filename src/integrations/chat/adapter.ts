import type { Finding } from '../../core/facts.js';
import type { Approval } from '../../core/incident.js';
import type { Report } from '../../engine/report.js';
import type { StepOutcome } from '../../engine/run.js';

/** Where a conversation lives: a channel and the thread's root message. */
export interface ThreadRef {
  channel: string;
  ts: string;
}

/**
 * What the conversation says, as data. Each adapter renders it its own way (Block Kit in Slack,
 * text in a terminal); the conversation logic never builds Block Kit.
 */
export type OutMessage =
  | { kind: 'text'; text: string }
  /** The thread's first message, edited in place as steps finish. */
  | { kind: 'progress'; title: string; steps: { id: string; status: 'running' | StepOutcome['status']; durationMs?: number; error?: string }[] }
  | { kind: 'findings'; step: string; findings: Finding[] }
  | { kind: 'diagnosis'; report: Report; incidentId?: string }
  | { kind: 'usage'; text: string }
  /** A proposed action with Approve / Deny, or — once decided — who decided, when, and the outcome. */
  | { kind: 'approval'; approval: Approval; blastRadius: string; state: 'open' | 'decided' };

/** A long piece of evidence (socket list, log tail) that goes up as a file in the thread. */
export interface Attachment {
  filename: string;
  title: string;
  content: string;
}

/** The chat a conversation happens in: Slack or a terminal. Only what the conversation calls. */
export interface ChatAdapter {
  /** Posts a message (in a thread when `threadTs` is given); returns where it landed. */
  post(channel: string, message: OutMessage, threadTs?: string): Promise<ThreadRef>;
  /** Replaces a message posted earlier. */
  update(ref: ThreadRef, message: OutMessage): Promise<void>;
  /** A message only `user` sees (Slack ephemeral); a terminal just prints it. */
  ephemeral(channel: string, user: string, message: OutMessage, threadTs?: string): Promise<void>;
  upload(thread: ThreadRef, file: Attachment): Promise<void>;
  /** Whether `user` is in the user group `group` (Slack usergroups), where the chat has groups. */
  isMember?(user: string, group: string): Promise<boolean>;
  /** A link people can follow to the thread, where the chat has one. */
  link?(thread: ThreadRef): Promise<string | null>;
}
