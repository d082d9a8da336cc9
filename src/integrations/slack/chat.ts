import { LogLevel, WebClient } from '@slack/web-api';
import type { Attachment, ChatAdapter, OutMessage, ThreadRef } from '../chat/adapter.js';
import { redactSecrets } from '../../steps/parse/logs.js';
import { renderBlocks } from './blocks.js';

export interface SlackClientOptions {
  botToken: string;
  /** Only for tests against an emulator. */
  apiUrl?: string;
}

/** The Web API client settings: a bounded retry (the default retries for ~30 minutes); 429s are waited out. */
export function slackClientOptions(o: SlackClientOptions): ConstructorParameters<typeof WebClient>[1] {
  return {
    ...(o.apiUrl ? { slackApiUrl: o.apiUrl } : {}),
    retryConfig: { retries: 5, factor: 2, minTimeout: 200, maxTimeout: 5000 },
    rejectRateLimitedCalls: false,
    logLevel: LogLevel.ERROR,
  };
}

/** `redactSecrets` line by line, as the steps apply it to log lines. */
function redactLines(text: string): string {
  return text.split('\n').map(redactSecrets).join('\n');
}

/** Slack as a ChatAdapter: Block Kit through chat.postMessage/update, files through files.uploadV2. */
export class SlackChat implements ChatAdapter {
  private readonly client: WebClient;

  constructor(o: SlackClientOptions | { client: WebClient }) {
    this.client = 'client' in o ? o.client : new WebClient(o.botToken, slackClientOptions(o));
  }

  async post(channel: string, message: OutMessage, threadTs?: string): Promise<ThreadRef> {
    const { text, blocks } = renderBlocks(message);
    const res = await this.client.chat.postMessage({ channel, text, blocks: blocks as never, ...(threadTs ? { thread_ts: threadTs } : {}), unfurl_links: false, unfurl_media: false });
    return { channel: res.channel ?? channel, ts: res.ts ?? '' };
  }

  async update(ref: ThreadRef, message: OutMessage): Promise<void> {
    const { text, blocks } = renderBlocks(message);
    await this.client.chat.update({ channel: ref.channel, ts: ref.ts, text, blocks: blocks as never });
  }

  async ephemeral(channel: string, user: string, message: OutMessage, threadTs?: string): Promise<void> {
    const { text, blocks } = renderBlocks(message);
    await this.client.chat.postEphemeral({ channel, user, text, blocks: blocks as never, ...(threadTs ? { thread_ts: threadTs } : {}) });
  }

  async isMember(user: string, group: string): Promise<boolean> {
    const res = await this.client.usergroups.users.list({ usergroup: group });
    return (res.users ?? []).includes(user);
  }

  private teamUrl: Promise<string | null> | null = null;

  /** `https://<workspace>.slack.com/archives/<channel>/p<ts without the dot>`; the workspace URL comes from auth.test, once. */
  async link(thread: ThreadRef): Promise<string | null> {
    this.teamUrl ??= this.client.auth.test().then(
      (r) => (typeof r.url === 'string' ? r.url.replace(/\/?$/, '/') : null),
      () => null,
    );
    const base = await this.teamUrl;
    return base ? `${base}archives/${thread.channel}/p${thread.ts.replace('.', '')}` : null;
  }

  async upload(thread: ThreadRef, file: Attachment): Promise<void> {
    // Files are redacted at the boundary too (their producers redact what they know).
    await this.client.files.uploadV2({ channel_id: thread.channel, thread_ts: thread.ts, filename: file.filename, title: redactLines(file.title), content: redactLines(file.content) });
  }
}
