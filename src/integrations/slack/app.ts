import type { RequestListener } from 'node:http';
import { App, HTTPReceiver, LogLevel } from '@slack/bolt';
import type { Said } from '../chat/conversation.js';
import { APPROVE_ACTION, DENY_ACTION } from './blocks.js';
import { slackClientOptions } from './chat.js';

export interface SlackAppOptions {
  mode: 'http' | 'socket';
  botToken: string;
  signingSecret?: string;
  appToken?: string;
  apiUrl?: string;
  /** True the first time an event id is seen (Slack redelivers with x-slack-retry-num). */
  claimEvent(eventId: string): Promise<boolean>;
  /** Handles what was said; runs after the ack, never inside it. */
  onSaid(said: Said): Promise<void>;
  /** A click on Approve/Deny; returns the private reply to the clicker. */
  onClick?(click: { hash: string; user: string; approve: boolean; channel: string; messageTs: string }): Promise<string>;
  onError(err: Error, where: string): void;
}

export interface SlackApp {
  /** HTTP mode: mount on the service's server for paths under /slack/. */
  requestListener?: RequestListener;
  /** Calls auth.test; Socket Mode also connects. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Bolt, transport only: verify, ack, dedupe, hand over. Mentions are acked by Bolt before the
 * listener runs; the slash command acks first; the conversation runs afterwards and never blocks
 * the ack (Slack wants it within 3 s).
 */
export function createSlackApp(o: SlackAppOptions): SlackApp {
  const clientOptions = slackClientOptions({ botToken: o.botToken, ...(o.apiUrl ? { apiUrl: o.apiUrl } : {}) });
  let receiver: HTTPReceiver | undefined;
  let app: App;
  if (o.mode === 'http') {
    if (!o.signingSecret) throw new Error('slack.signingSecret is required in http mode');
    receiver = new HTTPReceiver({ signingSecret: o.signingSecret, endpoints: ['/slack/events'], processBeforeResponse: false, logLevel: LogLevel.ERROR });
    app = new App({ token: o.botToken, receiver, clientOptions, deferInitialization: true, logLevel: LogLevel.ERROR });
  } else {
    if (!o.appToken) throw new Error('slack.appToken is required in socket mode');
    // installerOptions.clientOptions reaches the Socket Mode client's apps.connections.open.
    app = new App({ token: o.botToken, appToken: o.appToken, socketMode: true, clientOptions, installerOptions: { clientOptions }, deferInitialization: true, logLevel: LogLevel.ERROR });
  }
  const hand = (said: Said, where: string) => {
    void o.onSaid(said).catch((err: Error) => o.onError(err, where));
  };

  app.event('app_mention', async ({ event, body }) => {
    const id = (body as { event_id?: string }).event_id ?? `${event.channel}:${event.ts}`;
    if (!(await o.claimEvent(id))) return;
    hand({ channel: event.channel, user: event.user ?? 'unknown', text: event.text, threadTs: event.thread_ts ?? event.ts, via: 'mention' }, 'app_mention');
  });
  app.command('/triage', async ({ ack, command }) => {
    await ack();
    hand({ channel: command.channel_id, user: command.user_id, text: command.text, via: 'slash' }, '/triage');
  });
  for (const [actionId, approve] of [[APPROVE_ACTION, true], [DENY_ACTION, false]] as const) {
    app.action(actionId, async ({ ack, body, action, client }) => {
      await ack();
      const b = body as { user?: { id?: string }; channel?: { id?: string }; container?: { message_ts?: string }; message?: { ts?: string } };
      const value = (action as { value?: string }).value ?? '';
      const user = b.user?.id ?? '';
      const channel = b.channel?.id ?? '';
      const messageTs = b.container?.message_ts ?? b.message?.ts ?? '';
      if (!o.onClick) return;
      void o
        .onClick({ hash: value, user, approve, channel, messageTs })
        .then((reply) => client.chat.postEphemeral({ channel, user, text: reply, ...(messageTs ? { thread_ts: messageTs } : {}) }))
        .catch((err: Error) => o.onError(err, actionId));
    });
  }
  app.error(async (err) => o.onError(err, 'bolt'));

  return {
    ...(receiver ? { requestListener: receiver.requestListener } : {}),
    async start() {
      await app.init();
      if (o.mode === 'socket') await app.start();
    },
    async stop() {
      if (o.mode === 'socket') await app.stop();
    },
  };
}
