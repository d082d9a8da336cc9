import { App, LogLevel as BoltLogLevel } from '@slack/bolt';
import { ErrorCode, LogLevel, WebClient, type WebAPIPlatformError } from '@slack/web-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/ports.js';
import { startSlackEmulator, type SlackEmulator } from '../helpers/slack-emulator.js';
import { sendAction, sendCommand, sendEvent, signRequest, urlVerification } from '../helpers/slack-signing.js';

const CHANNEL = 'C0INCIDENTS';

let emu: SlackEmulator;
let client: WebClient;

beforeAll(async () => {
  emu = await startSlackEmulator({ botUserId: 'U0BOT', teamId: 'T0TEST' });
  client = new WebClient(emu.botToken, {
    slackApiUrl: emu.apiUrl,
    retryConfig: { retries: 0 },
    logLevel: LogLevel.ERROR,
  });
});

afterAll(async () => {
  await emu?.stop();
});

async function platformError(p: Promise<unknown>): Promise<WebAPIPlatformError> {
  try {
    await p;
  } catch (err) {
    return err as WebAPIPlatformError;
  }
  throw new Error('expected the call to fail');
}

describe('slack emulator, driven by the real @slack/web-api WebClient', () => {
  it('auth.test identifies the bot', async () => {
    const r = await client.auth.test();
    expect(r).toMatchObject({ ok: true, team_id: 'T0TEST', user_id: 'U0BOT', bot_id: emu.botId });
    const call = emu.callsTo('auth.test').at(-1)!;
    expect(call.status).toBe(200);
    expect(call.args).not.toHaveProperty('token');
  });

  it('postMessage then update: messages() shows the edited message', async () => {
    const blocks = [{ type: 'section', text: { type: 'mrkdwn', text: '*checking* 10.0.0.5:3000' } }];
    const posted = await client.chat.postMessage({ channel: CHANNEL, text: 'checking', blocks });
    expect(posted.ok).toBe(true);
    expect(posted.ts).toMatch(/^\d{10}\.\d{6}$/);
    // the form-encoded `blocks` JSON string arrives decoded
    expect(emu.callsTo('chat.postMessage').at(-1)!.args.blocks).toEqual(blocks);

    const reply = await client.chat.postMessage({ channel: CHANNEL, thread_ts: posted.ts!, text: 'step 1' });
    expect(Number(reply.ts)).toBeGreaterThan(Number(posted.ts));

    await client.chat.update({ channel: CHANNEL, ts: posted.ts!, text: 'done: pool exhausted' });
    const msgs = emu.messages(CHANNEL);
    const top = msgs.find((m) => m.ts === posted.ts)!;
    expect(top).toMatchObject({ text: 'done: pool exhausted', edits: 1, user: 'U0BOT', blocks });
    expect(msgs.find((m) => m.ts === reply.ts)).toMatchObject({ thread_ts: posted.ts, text: 'step 1', edits: 0 });
  });

  it('chat.update of an unknown message is message_not_found', async () => {
    const err = await platformError(client.chat.update({ channel: CHANNEL, ts: '1.000001', text: 'x' }));
    expect(err.code).toBe(ErrorCode.PlatformError);
    expect(err.data.error).toBe('message_not_found');
  });

  it('postEphemeral', async () => {
    const r = await client.chat.postEphemeral({ channel: CHANNEL, user: 'U0ALICE', text: 'only you', thread_ts: '1764050000.000100' });
    expect(r.ok).toBe(true);
    expect(r.message_ts).toMatch(/^\d{10}\.\d{6}$/);
    expect(emu.ephemerals.at(-1)).toEqual({ channel: CHANNEL, user: 'U0ALICE', text: 'only you', thread_ts: '1764050000.000100' });
  });

  it('files.uploadV2: getUploadURLExternal → POST upload_url → completeUploadExternal', async () => {
    const parent = await client.chat.postMessage({ channel: CHANNEL, text: 'evidence follows' });
    const content = 'ss -htane\nESTAB 0 0 10.0.0.5:3000 10.0.0.9:51234 ✓\n';
    const before = emu.calls.length;
    const r = await client.files.uploadV2({
      channel_id: CHANNEL,
      thread_ts: parent.ts!,
      filename: 'evidence.txt',
      content,
      title: 'Evidence',
    });
    expect(r.ok).toBe(true);
    expect(emu.calls.slice(before).map((c) => c.method)).toEqual([
      'files.getUploadURLExternal',
      'upload',
      'files.completeUploadExternal',
    ]);
    const [getUrl, upload, complete] = emu.calls.slice(before);
    expect(getUrl!.args).toMatchObject({ filename: 'evidence.txt', length: String(Buffer.byteLength(content)) });
    expect(String(upload!.args.content_type)).toMatch(/^multipart\/form-data; boundary=/);
    expect(complete!.args).toMatchObject({ channel_id: CHANNEL, thread_ts: parent.ts, files: [{ title: 'Evidence' }] });
    expect(emu.files.at(-1)).toMatchObject({ filename: 'evidence.txt', title: 'Evidence', content, channel_id: CHANNEL, thread_ts: parent.ts });
    expect(emu.violations.filter((v) => v.method === 'upload')).toEqual([]);
  });

  it('a 429 with Retry-After: 1 is honoured by a WebClient with default retries', async () => {
    const patient = new WebClient(emu.botToken, { slackApiUrl: emu.apiUrl, logLevel: LogLevel.ERROR });
    emu.rateLimit('chat.postMessage', 1, 1);
    const before = emu.callsTo('chat.postMessage').length;
    const r = await patient.chat.postMessage({ channel: 'C0RATE', text: 'after the pause' });
    expect(r.ok).toBe(true);
    const tries = emu.callsTo('chat.postMessage').slice(before);
    expect(tries.map((c) => c.status)).toEqual([429, 200]);
    expect(tries[1]!.at - tries[0]!.at).toBeGreaterThanOrEqual(1000);
    expect(emu.messages('C0RATE').map((m) => m.text)).toEqual(['after the pause']);
  });

  it('failNext answers a 5xx that a no-retry client surfaces as an HTTP error', async () => {
    emu.failNext('chat.postMessage', 1, 503);
    const err = await platformError(client.chat.postMessage({ channel: CHANNEL, text: 'x' }));
    expect(err.code).toBe(ErrorCode.HTTPError);
    expect(emu.callsTo('chat.postMessage').at(-1)!.status).toBe(503);
    // only the next one
    await expect(client.chat.postMessage({ channel: CHANNEL, text: 'y' })).resolves.toMatchObject({ ok: true });
  });

  it('refuses over-long blocks, too many blocks and over-long text, and records the violations', async () => {
    const long = [{ type: 'section', text: { type: 'mrkdwn', text: 'x'.repeat(3001) } }];
    const e1 = await platformError(client.chat.postMessage({ channel: CHANNEL, text: 'long', blocks: long }));
    expect(e1.data.error).toBe('invalid_blocks');

    const many = Array.from({ length: 51 }, () => ({ type: 'divider' }));
    const e2 = await platformError(client.chat.postMessage({ channel: CHANNEL, text: 'many', blocks: many }));
    expect(e2.data.error).toBe('invalid_blocks');

    const e3 = await platformError(client.chat.postMessage({ channel: CHANNEL, text: 'y'.repeat(40_001) }));
    expect(e3.data.error).toBe('msg_too_long');

    const ok = await client.chat.postMessage({ channel: CHANNEL, text: 'fine', blocks: long.map(() => ({ type: 'section', text: { type: 'mrkdwn', text: 'x'.repeat(3000) } })) });
    const e4 = await platformError(client.chat.update({ channel: CHANNEL, ts: ok.ts!, text: 'edit', blocks: long }));
    expect(e4.data.error).toBe('invalid_blocks');
    expect(emu.messages(CHANNEL).find((m) => m.ts === ok.ts)!.edits).toBe(0);

    expect(emu.violations.map((v) => v.error)).toEqual(expect.arrayContaining(['invalid_blocks', 'msg_too_long']));
    expect(emu.violations.find((v) => v.error === 'invalid_blocks')!.detail).toContain('3001');
  });

  it('a bad token gets invalid_auth; unknown methods get unknown_method', async () => {
    const intruder = new WebClient('xoxb-not-the-one', { slackApiUrl: emu.apiUrl, retryConfig: { retries: 0 }, logLevel: LogLevel.ERROR });
    const e = await platformError(intruder.chat.postMessage({ channel: CHANNEL, text: 'hi' }));
    expect(e.data.error).toBe('invalid_auth');
    const e2 = await platformError(client.apiCall('chat.teleport', { channel: CHANNEL }));
    expect(e2.data.error).toBe('unknown_method');
  });

  it('also accepts JSON bodies with the token in the Authorization header', async () => {
    const res = await fetch(`${emu.apiUrl}chat.postMessage`, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8', authorization: `Bearer ${emu.botToken}` },
      body: JSON.stringify({ channel: 'C0JSON', text: 'json', blocks: [{ type: 'divider' }] }),
    });
    expect(await res.json()).toMatchObject({ ok: true, channel: 'C0JSON' });
    expect(emu.messages('C0JSON')[0]).toMatchObject({ text: 'json', blocks: [{ type: 'divider' }] });
  });

  it('waitFor resolves on a predicate and rejects with the calls so far', async () => {
    await emu.waitFor((cs) => cs.some((c) => c.method === 'auth.test'), 1000, 'auth.test');
    await expect(emu.waitFor(() => false, 60, 'never')).rejects.toThrow(/never.*auth\.test/);
  });
});

describe('signed requests into a real Bolt App that talks to the emulator', () => {
  const secret = 'test-signing-secret';
  let app: App;
  let url: string;
  let bemu: SlackEmulator;

  beforeAll(async () => {
    bemu = await startSlackEmulator();
    const port = await freePort();
    url = `http://127.0.0.1:${port}/slack/events`;
    app = new App({
      token: bemu.botToken,
      signingSecret: secret,
      logLevel: BoltLogLevel.ERROR,
      clientOptions: { slackApiUrl: bemu.apiUrl, retryConfig: { retries: 0 } },
    });
    app.event('app_mention', async ({ event, client: c }) => {
      await c.chat.postMessage({ channel: event.channel, thread_ts: event.thread_ts ?? event.ts, text: `heard: ${event.text}` });
    });
    app.command('/triage', async ({ ack, respond, command }) => {
      await ack();
      await respond({ response_type: 'ephemeral', text: `cmd: ${command.text}` });
    });
    app.action('ack_incident', async ({ ack, body, client: c }) => {
      await ack();
      const b = body as { channel?: { id: string }; message?: { ts: string } };
      await c.chat.update({ channel: b.channel!.id, ts: b.message!.ts, text: 'acknowledged' });
    });
    await app.start(port);
  });

  afterAll(async () => {
    await app?.stop();
    await bemu?.stop();
  });

  it("signRequest reproduces the example in Slack's signing documentation", () => {
    const body =
      'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V' +
      '&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=' +
      '&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN' +
      '&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c';
    expect(signRequest('8f742231b10e8888abcd99yyyzzz85a5', body, 1531420618)).toEqual({
      'x-slack-signature': 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503',
      'x-slack-request-timestamp': '1531420618',
    });
  });

  it('url_verification echoes the challenge', async () => {
    const r = await urlVerification(url, secret);
    expect(r.status).toBe(200);
    expect(r.body).toContain(r.challenge);
  });

  it('an app_mention is answered in thread through the emulator', async () => {
    const r = await sendEvent(url, secret, {
      type: 'app_mention', user: 'U0ALICE', text: '<@U0TRIAGEBOT> status', ts: '1764040000.000100',
      channel: 'C0EV', event_ts: '1764040000.000100',
    }, { eventId: 'Ev0001' });
    expect(r.status).toBe(200);
    await bemu.waitFor((cs) => cs.some((c) => c.method === 'chat.postMessage' && c.ok === true), 5000, 'the reply');
    expect(bemu.messages('C0EV')).toMatchObject([{ thread_ts: '1764040000.000100', text: 'heard: <@U0TRIAGEBOT> status' }]);
    expect(bemu.callsTo('auth.test').length).toBeGreaterThan(0);
  });

  it('bad, stale and missing signatures are refused with 401', async () => {
    const ev = { type: 'app_mention', user: 'U0ALICE', text: 'x', ts: '1.1', channel: 'C0BAD', event_ts: '1.1' };
    expect((await sendEvent(url, secret, ev, { tamper: true })).status).toBe(401);
    expect((await sendEvent(url, secret, ev, { ts: Math.floor(Date.now() / 1000) - 600 })).status).toBe(401);
    expect((await sendEvent(url, secret, ev, { unsigned: true })).status).toBe(401);
    expect((await sendEvent(url, 'wrong-secret', ev)).status).toBe(401);
    await new Promise((r) => setTimeout(r, 100));
    expect(bemu.messages('C0BAD')).toEqual([]);
  });

  it('a slash command is acked and respond() reaches the emulator response_url', async () => {
    const responseUrl = bemu.responseUrl('cmd1');
    const r = await sendCommand(url, secret, { command: '/triage', text: 'help', user_id: 'U0ALICE', channel_id: 'C0CMD' }, { responseUrl });
    expect(r.status).toBe(200);
    await bemu.waitFor(() => bemu.responses.length > 0, 5000, 'respond()');
    expect(bemu.responses[0]).toMatchObject({ path: '/response/cmd1', body: { response_type: 'ephemeral', text: 'cmd: help' } });
  });

  it('a block action updates the message', async () => {
    const c = new WebClient(bemu.botToken, { slackApiUrl: bemu.apiUrl, retryConfig: { retries: 0 }, logLevel: LogLevel.ERROR });
    const posted = await c.chat.postMessage({ channel: 'C0ACT', text: 'incident 42' });
    const r = await sendAction(url, secret, {
      type: 'block_actions',
      user: { id: 'U0ALICE' },
      team: { id: 'T0TRIAGE' },
      api_app_id: 'A0TRIAGE',
      channel: { id: 'C0ACT' },
      container: { type: 'message', message_ts: posted.ts, channel_id: 'C0ACT' },
      message: { ts: posted.ts, text: 'incident 42' },
      actions: [{ type: 'button', action_id: 'ack_incident', block_id: 'b1', value: '42', action_ts: '1.2' }],
      trigger_id: '1.2.abc',
    }, { responseUrl: bemu.responseUrl() });
    expect(r.status).toBe(200);
    await bemu.waitFor((cs) => cs.some((x) => x.method === 'chat.update'), 5000, 'chat.update');
    expect(bemu.messages('C0ACT')[0]).toMatchObject({ text: 'acknowledged', edits: 1 });
  });
});
