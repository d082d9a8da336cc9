import { describe, expect, it } from 'vitest';
import { ConfigSchema, type Settings } from '../../src/config.js';
import { Conversation } from '../../src/integrations/chat/conversation.js';
import { createSlackApp } from '../../src/integrations/slack/app.js';
import { SlackChat } from '../../src/integrations/slack/chat.js';
import { MemoryIncidentStore } from '../../src/integrations/store/memory.js';
import { startSlackEmulator } from '../helpers/slack-emulator.js';

describe('Slack in Socket Mode', () => {
  it('connects with the app-level token and handles mentions and /triage through the same conversation', async () => {
    const slack = await startSlackEmulator();
    const store = new MemoryIncidentStore();
    const settings: Settings = {
      file: null,
      sshAuthSock: undefined,
      databaseUrl: undefined,
      config: ConfigSchema.parse({ hosts: { 'host-35': { address: '10.0.0.35', ssh: { user: 'triage', agent: true, hostKey: { acceptNew: true } } } }, services: { checkout: { port: 2133, instances: ['host-35'] } } }),
    };
    const launched: string[] = [];
    const chat = new SlackChat({ botToken: slack.botToken, apiUrl: slack.apiUrl });
    const conversation = new Conversation({ settings, store, chat, launch: async (inc) => void launched.push(inc.id) });
    const app = createSlackApp({
      mode: 'socket',
      botToken: slack.botToken,
      appToken: slack.appToken,
      apiUrl: slack.apiUrl,
      claimEvent: (id) => store.claimOnce(id, 60),
      onSaid: (said) => conversation.onSaid(said),
      onError: (err) => {
        throw err;
      },
    });
    try {
      await app.start();
      await slack.socketConnected(5000);
      const ack = await slack.socketSend('events_api', {
        type: 'event_callback',
        team_id: 'T0TRIAGE',
        api_app_id: 'A0TRIAGE',
        event_id: 'Ev0SOCKET1',
        event_time: 1764050000,
        event: { type: 'app_mention', user: 'U0ALICE', text: `<@${slack.botUserId}> connreset host-35:2133`, ts: '1764050000.000001', channel: 'C0SOCKET', event_ts: '1764050000.000001' },
      });
      expect(ack.envelope_id).toBeDefined();
      await slack.waitFor(() => slack.messages('C0SOCKET').some((m) => m.thread_ts === '1764050000.000001'), 5000, 'the thread');
      expect(slack.messages('C0SOCKET')[0]?.text).toMatch(/Investigating checkout on host-35:2133 — runbook connreset/);
      expect(launched).toHaveLength(1);

      await slack.socketSend('slash_commands', { command: '/triage', text: 'connreset host-99:2133', user_id: 'U0BOB', channel_id: 'C0SOCKET', team_id: 'T0TRIAGE' });
      await slack.waitFor(() => slack.ephemerals.some((e) => e.user === 'U0BOB'), 5000, 'the usage reply');
      expect(slack.ephemerals.find((e) => e.user === 'U0BOB')?.text).toMatch(/host-99.*not in the inventory/);
      expect(launched).toHaveLength(1);
    } finally {
      await app.stop();
      await slack.stop();
    }
  });
});
