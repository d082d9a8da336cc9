/**
 * Signed requests to the bot, shaped like Slack's: Events API (JSON), slash commands and interactivity
 * (`application/x-www-form-urlencoded`, interactivity as `payload=<json>`), url_verification.
 * Signature: `v0=` + hex HMAC-SHA256(signingSecret, `v0:${ts}:${rawBody}`).
 */
import { createHmac, randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface SignedHeaders {
  'x-slack-signature': string;
  'x-slack-request-timestamp': string;
}

export function signRequest(secret: string, body: string, ts: number = Math.floor(Date.now() / 1000)): SignedHeaders {
  const sig = createHmac('sha256', secret).update(`v0:${ts}:${body}`).digest('hex');
  return { 'x-slack-signature': `v0=${sig}`, 'x-slack-request-timestamp': String(ts) };
}

export interface SendOptions {
  /** Unix seconds used for the signature timestamp (e.g. 10 minutes ago to test replay rejection). */
  ts?: number;
  /** Sign the body, then alter it before sending (the signature no longer matches). */
  tamper?: boolean;
  /** Send no signature headers at all. */
  unsigned?: boolean;
  teamId?: string;
  /** Sets `response_url` (commands and actions) when the fields/payload do not already have one. */
  responseUrl?: string;
}

export interface EventOptions extends SendOptions {
  eventId?: string;
  /** Adds `x-slack-retry-num` / `x-slack-retry-reason: http_timeout` like a Slack redelivery. */
  retryNum?: number;
  /** Bot user id for the envelope's `authorizations`. */
  botUserId?: string;
}

export interface SlackResponse {
  status: number;
  /** Response text. */
  body: string;
  /** Parsed body when it is JSON, else undefined. */
  json: unknown;
  headers: Record<string, string | string[] | undefined>;
}

export const DEFAULT_TEAM_ID = 'T0TRIAGE';
export const DEFAULT_APP_ID = 'A0TRIAGE';
/** The (deprecated) verification token Slack puts in payloads; Bolt ignores it. */
export const VERIFICATION_TOKEN = 'legacy-verification-token';

/** POSTs with a fresh connection (no keep-alive pooling, so servers under test close promptly). */
export function postRaw(url: string, headers: Record<string, string>, body: string): Promise<SlackResponse> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(
      u,
      {
        method: 'POST',
        agent: false,
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)), connection: 'close' },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = text.length > 0 ? JSON.parse(text) : undefined;
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, body: text, json, headers: res.headers });
        });
      },
    );
    req.on('error', reject);
    req.setTimeout(15_000, () => req.destroy(new Error(`POST ${url} timed out`)));
    req.end(body);
  });
}

function signedPost(
  url: string,
  secret: string,
  contentType: string,
  body: string,
  opts: SendOptions,
  extra: Record<string, string> = {},
): Promise<SlackResponse> {
  const headers: Record<string, string> = { 'content-type': contentType, ...extra };
  let sent = body;
  if (!opts.unsigned) Object.assign(headers, signRequest(secret, body, opts.ts));
  if (opts.tamper) {
    // still well-formed, but not the bytes that were signed: only the signature check can notice
    sent = contentType === 'application/json' ? `${body} ` : `${body}&tampered=1`;
  }
  return postRaw(url, headers, sent);
}

function randomId(prefix: string, n = 10): string {
  return prefix + randomBytes(n).toString('hex').toUpperCase().slice(0, n);
}

/** Events API `event_callback` envelope, JSON, signed. */
export function sendEvent(url: string, secret: string, event: object, opts: EventOptions = {}): Promise<SlackResponse> {
  const teamId = opts.teamId ?? DEFAULT_TEAM_ID;
  const envelope = {
    token: VERIFICATION_TOKEN,
    team_id: teamId,
    api_app_id: DEFAULT_APP_ID,
    event,
    type: 'event_callback',
    event_id: opts.eventId ?? randomId('Ev'),
    event_time: Math.floor(Date.now() / 1000),
    authorizations: [
      {
        enterprise_id: null,
        team_id: teamId,
        user_id: opts.botUserId ?? 'U0TRIAGEBOT',
        is_bot: true,
        is_enterprise_install: false,
      },
    ],
    is_ext_shared_channel: false,
  };
  const extra: Record<string, string> = {};
  if (opts.retryNum !== undefined) {
    extra['x-slack-retry-num'] = String(opts.retryNum);
    extra['x-slack-retry-reason'] = 'http_timeout';
  }
  return signedPost(url, secret, 'application/json', JSON.stringify(envelope), opts, extra);
}

export interface CommandFields {
  command: string;
  text: string;
  user_id: string;
  channel_id: string;
  [key: string]: string;
}

/** Slash command, `application/x-www-form-urlencoded`, signed. */
export function sendCommand(url: string, secret: string, fields: CommandFields, opts: SendOptions = {}): Promise<SlackResponse> {
  const teamId = opts.teamId ?? DEFAULT_TEAM_ID;
  const all: Record<string, string> = {
    token: VERIFICATION_TOKEN,
    team_id: teamId,
    team_domain: 'triage-test',
    channel_name: 'incidents',
    user_name: 'oncall',
    api_app_id: DEFAULT_APP_ID,
    is_enterprise_install: 'false',
    trigger_id: `${Date.now()}.${randomBytes(4).readUInt32BE()}.${randomBytes(8).toString('hex')}`,
    ...fields,
  };
  if (opts.responseUrl !== undefined && all.response_url === undefined) all.response_url = opts.responseUrl;
  const body = new URLSearchParams(all).toString();
  return signedPost(url, secret, 'application/x-www-form-urlencoded', body, opts);
}

/** Interactivity (`block_actions` etc.): `payload=<json>`, form-encoded, signed. */
export function sendAction(url: string, secret: string, payload: object, opts: SendOptions = {}): Promise<SlackResponse> {
  const p: Record<string, unknown> = { ...payload };
  if (opts.responseUrl !== undefined && p.response_url === undefined) p.response_url = opts.responseUrl;
  const body = new URLSearchParams({ payload: JSON.stringify(p) }).toString();
  return signedPost(url, secret, 'application/x-www-form-urlencoded', body, opts);
}

/** Slack's `url_verification` handshake; the bot must echo `challenge`. */
export function urlVerification(url: string, secret: string, opts: SendOptions = {}): Promise<SlackResponse & { challenge: string }> {
  const challenge = randomBytes(16).toString('hex');
  const body = JSON.stringify({ token: VERIFICATION_TOKEN, challenge, type: 'url_verification' });
  return signedPost(url, secret, 'application/json', body, opts).then((r) => ({ ...r, challenge }));
}

/** A click on one of the bot's buttons (Approve/Deny) in a channel message. */
export interface ButtonClick {
  user: string;
  channel: string;
  /** The `ts` of the message the button is on. */
  messageTs: string;
  /** The emulator's `responseUrl()`. */
  responseUrl: string;
  actionId: string;
  /** The button's value (an approval's hash). */
  value: string;
}

/** A signed `block_actions` payload for `click`, as Slack sends it when a user presses a button. */
export function sendButtonClick(url: string, secret: string, click: ButtonClick): Promise<SlackResponse> {
  return sendAction(url, secret, {
    type: 'block_actions',
    user: { id: click.user, username: click.user, team_id: DEFAULT_TEAM_ID },
    api_app_id: DEFAULT_APP_ID,
    team: { id: DEFAULT_TEAM_ID, domain: 'triage-test' },
    channel: { id: click.channel, name: 'oncall' },
    container: { type: 'message', message_ts: click.messageTs, channel_id: click.channel, is_ephemeral: false },
    message: { type: 'message', ts: click.messageTs, text: 'approval' },
    trigger_id: '1.2.3',
    response_url: click.responseUrl,
    actions: [{ type: 'button', action_id: click.actionId, block_id: 'approval', value: click.value, action_ts: `${Date.now() / 1000}` }],
  });
}
