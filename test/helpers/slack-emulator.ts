/**
 * A small Slack Web API emulator over node:http, for tests. The bot reaches it through Bolt's and
 * @slack/web-api's real code paths: `clientOptions: { slackApiUrl: emu.apiUrl }`.
 *
 * What @slack/web-api 8.x really sends (see node_modules/@slack/web-api/dist/WebClient.js):
 * - every method is `POST <slackApiUrl><method>` via global fetch, `Authorization: Bearer <token>`,
 *   `Content-Type: application/x-www-form-urlencoded`; non-scalar args (blocks, files, attachments,
 *   metadata) are JSON strings inside the form; Bolt's pooled client adds `team_id`.
 * - `files.uploadV2` = `files.getUploadURLExternal` (filename, length) → `POST upload_url` as
 *   multipart/form-data with one part named `body` (filename "Untitled") holding the bytes, which must
 *   answer exactly 200 → `files.completeUploadExternal` (files='[{"id","title"}]', channel_id, thread_ts).
 * - HTTP 429 + Retry-After: the client pauses its whole queue for that many seconds and retries
 *   (unless `rejectRateLimitedCalls` or retries are exhausted); any other non-200 is a WebAPIHTTPError.
 *
 * Limits enforced like Slack's (violations are answered `ok:false` and listed in `violations`):
 * ≤ 50 blocks, section/any block `text.text` ≤ 3000, section fields ≤ 10 × 2000, header ≤ 150,
 * `text` ≤ 40,000 chars (`msg_too_long`), token must match (`invalid_auth`).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import type { AddressInfo } from 'node:net';

export interface RecordedCall {
  method: string;
  args: Record<string, unknown>;
  at: number;
  status: number;
  /** `ok` of the JSON answer (undefined for non-JSON answers such as the upload URL or HTTP errors). */
  ok?: boolean;
  /** `error` of an `ok:false` answer. */
  error?: string;
}

export interface EmulatedMessage {
  ts: string;
  thread_ts?: string;
  text: string;
  blocks?: unknown[];
  user: string;
  edits: number;
}

export interface EmulatedEphemeral {
  channel: string;
  user: string;
  text: string;
  blocks?: unknown[];
  thread_ts?: string;
}

export interface EmulatedFile {
  id: string;
  filename: string;
  title?: string;
  content: string;
  channel_id?: string;
  thread_ts?: string;
}

/** A request the bot made that Slack would refuse (bad token, over-long blocks, unknown message…). */
export interface Violation {
  method: string;
  error: string;
  detail: string;
  at: number;
}

/** A POST to a `response_url` handed out by `emu.responseUrl(…)`. */
export interface ResponseUrlPost {
  path: string;
  contentType: string;
  body: unknown;
  at: number;
}

export interface SlackEmulator {
  /** 'http://127.0.0.1:PORT/api/' — pass as slackApiUrl */
  apiUrl: string;
  /** The app-level token (`xapp-…`) Socket Mode clients open their connection with. */
  appToken: string;
  /** Socket Mode: resolves when a client has connected and been sent `hello`. */
  socketConnected(timeoutMs: number): Promise<void>;
  /** Socket Mode: sends an envelope (`events_api`, `slash_commands`, `interactive`); resolves with the client's ack. */
  socketSend(type: 'events_api' | 'slash_commands' | 'interactive', payload: Record<string, unknown>): Promise<Record<string, unknown>>;
  /** 'xoxb-test-…' — the only token the emulator accepts (others get {ok:false,error:'invalid_auth'}) */
  botToken: string;
  botUserId: string;
  botId: string;
  teamId: string;
  /** every Web API call (and upload-URL POST, as method 'upload'), in order */
  calls: RecordedCall[];
  callsTo(method: string): RecordedCall[];
  /** Messages as they stand now (postMessage then chat.update applied), by channel, in order. */
  messages(channel: string): EmulatedMessage[];
  ephemerals: EmulatedEphemeral[];
  /** files completed with files.completeUploadExternal */
  files: EmulatedFile[];
  /** every refused request, with a reason */
  violations: Violation[];
  /** A response_url on the emulator (`http://127.0.0.1:PORT/response/<name>`); POSTs land in `responses`. */
  responseUrl(name?: string): string;
  responses: ResponseUrlPost[];
  /** The next `count` calls to `method` answer HTTP 429 with Retry-After: seconds. */
  rateLimit(method: string, count: number, retryAfterSec: number): void;
  /** The next `count` calls to `method` answer HTTP 500 (or 503). */
  failNext(method: string, count: number, status?: number): void;
  /** Ends injected 429/5xx answers (for `method`, or all): Slack is back. */
  clearFaults(method?: string): void;
  /** Resolves when `pred(calls)` holds (polls every 20 ms), rejects after timeoutMs with the calls so far. */
  waitFor(pred: (calls: RecordedCall[]) => boolean, timeoutMs: number, what: string): Promise<void>;
  /** Sets the members of a user group (usergroups.users.list). */
  setUsergroup(id: string, users: string[]): void;
  stop(): Promise<void>;
}

interface Fault {
  kind: 'ratelimit' | 'fail';
  remaining: number;
  status: number;
  retryAfterSec: number;
}

interface PendingUpload {
  id: string;
  filename: string;
  length: number;
  content?: string;
}

interface Answer {
  status: number;
  body: Record<string, unknown>;
  headers?: Record<string, string>;
}

const MAX_BODY = 20 * 1024 * 1024;
const JSON_ARGS = new Set(['blocks', 'attachments', 'files', 'metadata', 'unfurls', 'view']);
const TS_BASE_SEC = 1764050000;

class HttpFault extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new HttpFault(413, 'request body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

interface MultipartPart {
  name: string;
  filename?: string;
  contentType?: string;
  data: Buffer;
}

/** Minimal multipart/form-data parser (enough for fetch's FormData encoding). */
export function parseMultipart(body: Buffer, contentType: string): MultipartPart[] {
  const m = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType);
  const boundary = m?.[1] ?? m?.[2];
  if (!boundary) throw new HttpFault(400, 'multipart without boundary');
  const delim = Buffer.from(`--${boundary}`);
  const parts: MultipartPart[] = [];
  let pos = body.indexOf(delim);
  if (pos < 0) throw new HttpFault(400, 'multipart boundary not found');
  for (;;) {
    pos += delim.length;
    // "--" after a boundary marks the end
    if (body[pos] === 0x2d && body[pos + 1] === 0x2d) break;
    // skip CRLF after boundary
    if (body[pos] === 0x0d && body[pos + 1] === 0x0a) pos += 2;
    const headerEnd = body.indexOf('\r\n\r\n', pos);
    if (headerEnd < 0) throw new HttpFault(400, 'multipart part without headers');
    const headerText = body.subarray(pos, headerEnd).toString('utf8');
    const next = body.indexOf(Buffer.concat([Buffer.from('\r\n'), delim]), headerEnd + 4);
    if (next < 0) throw new HttpFault(400, 'multipart part not terminated');
    const data = body.subarray(headerEnd + 4, next);
    let name = '';
    let filename: string | undefined;
    let partType: string | undefined;
    for (const line of headerText.split('\r\n')) {
      const [k, ...rest] = line.split(':');
      const v = rest.join(':').trim();
      if (k?.toLowerCase() === 'content-disposition') {
        name = /\bname="([^"]*)"/i.exec(v)?.[1] ?? '';
        filename = /\bfilename="([^"]*)"/i.exec(v)?.[1];
      } else if (k?.toLowerCase() === 'content-type') {
        partType = v;
      }
    }
    const part: MultipartPart = { name, data: Buffer.from(data) };
    if (filename !== undefined) part.filename = filename;
    if (partType !== undefined) part.contentType = partType;
    parts.push(part);
    pos = next + 2; // at the delimiter
  }
  return parts;
}

/** Decode Web API arguments the way Slack does: form-urlencoded (JSON strings for nested values) or JSON. */
function parseArgs(raw: Buffer, contentType: string, query: URLSearchParams): Record<string, unknown> {
  const args: Record<string, unknown> = {};
  for (const [k, v] of query) args[k] = v;
  const type = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  if (raw.length === 0) return args;
  if (type === 'application/json') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw.toString('utf8'));
    } catch {
      throw new HttpFault(400, 'invalid JSON body');
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new HttpFault(400, 'JSON body is not an object');
    }
    return { ...args, ...(parsed as Record<string, unknown>) };
  }
  if (type === 'multipart/form-data') {
    for (const p of parseMultipart(raw, contentType)) {
      args[p.name] = p.filename !== undefined ? p.data : p.data.toString('utf8');
    }
  } else {
    // application/x-www-form-urlencoded (also Slack's reading of a missing content type)
    for (const [k, v] of new URLSearchParams(raw.toString('utf8'))) args[k] = v;
  }
  for (const key of JSON_ARGS) {
    const v = args[key];
    if (typeof v === 'string' && v.length > 0) {
      try {
        args[key] = JSON.parse(v);
      } catch {
        // left as a string; the method handler reports *_format errors
      }
    }
  }
  return args;
}

function str(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}

type Check = { error: string; detail: string } | undefined;

/** Slack's message limits for chat.postMessage / chat.update. */
function checkMessage(args: Record<string, unknown>): Check {
  const text = str(args.text);
  if (text !== undefined && text.length > 40_000) {
    return { error: 'msg_too_long', detail: `text is ${text.length} chars > 40000` };
  }
  const blocks = args.blocks;
  if (blocks === undefined || blocks === '') return undefined;
  if (!Array.isArray(blocks)) {
    return { error: 'invalid_blocks_format', detail: 'blocks is not a JSON array' };
  }
  if (blocks.length > 50) return { error: 'invalid_blocks', detail: `${blocks.length} blocks > 50` };
  for (let i = 0; i < blocks.length; i++) {
    const b: unknown = blocks[i];
    const at = `blocks[${i}]`;
    if (b === null || typeof b !== 'object') return { error: 'invalid_blocks', detail: `${at} is not an object` };
    const block = b as Record<string, unknown>;
    if (typeof block.type !== 'string') return { error: 'invalid_blocks', detail: `${at}.type missing` };
    if (typeof block.block_id === 'string' && block.block_id.length > 255) {
      return { error: 'invalid_blocks', detail: `${at}.block_id > 255 chars` };
    }
    const t = block.text as Record<string, unknown> | undefined;
    if (t !== undefined) {
      if (t === null || typeof t !== 'object' || typeof t.text !== 'string') {
        return { error: 'invalid_blocks', detail: `${at}.text must be a text object` };
      }
      if (t.type !== 'plain_text' && t.type !== 'mrkdwn') {
        return { error: 'invalid_blocks', detail: `${at}.text.type must be plain_text or mrkdwn` };
      }
      const max = block.type === 'header' ? 150 : 3000;
      if (t.text.length > max) {
        return { error: 'invalid_blocks', detail: `${at}.text.text is ${t.text.length} chars > ${max}` };
      }
      if (t.text.length === 0) return { error: 'invalid_blocks', detail: `${at}.text.text is empty` };
    }
    if (block.type === 'section') {
      const fields = block.fields;
      if (t === undefined && !Array.isArray(fields)) {
        return { error: 'invalid_blocks', detail: `${at}: section needs text or fields` };
      }
      if (Array.isArray(fields)) {
        if (fields.length > 10) return { error: 'invalid_blocks', detail: `${at}.fields has ${fields.length} > 10` };
        for (let j = 0; j < fields.length; j++) {
          const f = fields[j] as Record<string, unknown> | null;
          if (!f || typeof f.text !== 'string' || f.text.length > 2000) {
            return { error: 'invalid_blocks', detail: `${at}.fields[${j}] missing or > 2000 chars` };
          }
        }
      }
    }
    if (block.type === 'actions' || block.type === 'context') {
      const els = block.elements;
      const max = block.type === 'actions' ? 25 : 10;
      if (!Array.isArray(els) || els.length === 0 || els.length > max) {
        return { error: 'invalid_blocks', detail: `${at}.elements must have 1..${max} items` };
      }
    }
  }
  return undefined;
}

export async function startSlackEmulator(opts: { botUserId?: string; teamId?: string } = {}): Promise<SlackEmulator> {
  const botUserId = opts.botUserId ?? 'U0TRIAGEBOT';
  const teamId = opts.teamId ?? 'T0TRIAGE';
  const botId = 'B0TRIAGEBOT';
  const botToken = `xoxb-test-${Math.random().toString(36).slice(2, 12)}`;
  const usergroups = new Map<string, string[]>();
  const appToken = `xapp-test-${Math.random().toString(36).slice(2, 12)}`;

  const calls: RecordedCall[] = [];
  const channels = new Map<string, EmulatedMessage[]>();
  const ephemerals: EmulatedEphemeral[] = [];
  const files: EmulatedFile[] = [];
  const violations: Violation[] = [];
  const responses: ResponseUrlPost[] = [];
  const uploads = new Map<string, PendingUpload>();
  const faults = new Map<string, Fault[]>();
  let tsSeq = 0;
  let fileSeq = 0;
  let base = '';

  const nextTs = (): string => {
    tsSeq += 1;
    const micros = tsSeq * 100;
    const sec = TS_BASE_SEC + Math.floor(micros / 1_000_000);
    return `${sec}.${String(micros % 1_000_000).padStart(6, '0')}`;
  };

  const channelMessages = (channel: string): EmulatedMessage[] => {
    let list = channels.get(channel);
    if (!list) {
      list = [];
      channels.set(channel, list);
    }
    return list;
  };

  const takeFault = (method: string): Fault | undefined => {
    const list = faults.get(method);
    const f = list?.[0];
    if (!list || !f) return undefined;
    f.remaining -= 1;
    if (f.remaining <= 0) list.shift();
    return f;
  };

  const refuse = (method: string, error: string, detail: string, extra: Record<string, unknown> = {}): Answer => {
    violations.push({ method, error, detail, at: Date.now() });
    return { status: 200, body: { ok: false, error, ...extra } };
  };

  const slackMessage = (channel: string, m: EmulatedMessage): Record<string, unknown> => ({
    type: 'message',
    user: m.user,
    bot_id: botId,
    team: teamId,
    channel,
    text: m.text,
    ts: m.ts,
    ...(m.thread_ts !== undefined ? { thread_ts: m.thread_ts } : {}),
    ...(m.blocks !== undefined ? { blocks: m.blocks } : {}),
    ...(m.edits > 0 ? { edited: { user: m.user, ts: m.ts } } : {}),
  });

  const methods: Record<string, (args: Record<string, unknown>, method: string) => Answer> = {
    'api.test': (args) => ({ status: 200, body: { ok: true, args } }),

    'usergroups.users.list': (args) => {
      const users = usergroups.get(String(args.usergroup ?? ''));
      return users ? { status: 200, body: { ok: true, users } } : { status: 200, body: { ok: false, error: 'no_such_subteam' } };
    },

    'auth.test': () => ({
      status: 200,
      body: {
        ok: true,
        url: 'https://triage-test.slack.com/',
        team: 'Triage Test',
        user: 'triage',
        team_id: teamId,
        user_id: botUserId,
        bot_id: botId,
        is_enterprise_install: false,
      },
    }),

    'chat.postMessage': (args, method) => {
      const channel = str(args.channel);
      if (!channel) return refuse(method, 'channel_not_found', 'channel missing');
      const text = str(args.text);
      const hasBlocks = args.blocks !== undefined && args.blocks !== '';
      if (!text && !hasBlocks && args.attachments === undefined) return refuse(method, 'no_text', 'no text/blocks');
      const bad = checkMessage(args);
      if (bad) return refuse(method, bad.error, bad.detail, { errors: [bad.detail] });
      const threadTs = str(args.thread_ts);
      const m: EmulatedMessage = { ts: nextTs(), text: text ?? '', user: botUserId, edits: 0 };
      if (threadTs) m.thread_ts = threadTs;
      if (Array.isArray(args.blocks)) m.blocks = args.blocks;
      channelMessages(channel).push(m);
      return { status: 200, body: { ok: true, channel, ts: m.ts, message: slackMessage(channel, m) } };
    },

    'chat.update': (args, method) => {
      const channel = str(args.channel);
      const ts = str(args.ts);
      if (!channel || !ts) return refuse(method, 'message_not_found', 'channel or ts missing');
      const m = channels.get(channel)?.find((x) => x.ts === ts);
      if (!m) return refuse(method, 'message_not_found', `no message ${channel}/${ts}`);
      const text = str(args.text);
      const hasBlocks = args.blocks !== undefined && args.blocks !== '';
      if (text === undefined && !hasBlocks && args.attachments === undefined) {
        return refuse(method, 'no_text', 'no text/blocks');
      }
      const bad = checkMessage(args);
      if (bad) return refuse(method, bad.error, bad.detail, { errors: [bad.detail] });
      if (text !== undefined) m.text = text;
      // Slack keeps the previous blocks when `blocks` is omitted; [] removes them.
      if (Array.isArray(args.blocks)) {
        if (args.blocks.length === 0) delete m.blocks;
        else m.blocks = args.blocks;
      }
      m.edits += 1;
      return {
        status: 200,
        body: { ok: true, channel, ts, text: m.text, message: slackMessage(channel, m) },
      };
    },

    'chat.postEphemeral': (args, method) => {
      const channel = str(args.channel);
      const user = str(args.user);
      if (!channel) return refuse(method, 'channel_not_found', 'channel missing');
      if (!user) return refuse(method, 'user_not_in_channel', 'user missing');
      const text = str(args.text);
      const hasBlocks = args.blocks !== undefined && args.blocks !== '';
      if (!text && !hasBlocks && args.attachments === undefined) return refuse(method, 'no_text', 'no text/blocks');
      const bad = checkMessage(args);
      if (bad) return refuse(method, bad.error, bad.detail, { errors: [bad.detail] });
      const e: EmulatedEphemeral = { channel, user, text: text ?? '' };
      if (Array.isArray(args.blocks)) e.blocks = args.blocks;
      const threadTs = str(args.thread_ts);
      if (threadTs) e.thread_ts = threadTs;
      ephemerals.push(e);
      return { status: 200, body: { ok: true, message_ts: nextTs() } };
    },

    'files.getUploadURLExternal': (args, method) => {
      const filename = str(args.filename);
      const length = Number(str(args.length));
      if (!filename) return refuse(method, 'invalid_arguments', 'filename missing');
      if (!Number.isInteger(length) || length <= 0) return refuse(method, 'invalid_arguments', `length ${String(args.length)}`);
      fileSeq += 1;
      const id = `F0TRIAGE${String(fileSeq).padStart(4, '0')}`;
      uploads.set(id, { id, filename, length });
      return { status: 200, body: { ok: true, upload_url: `${base}/upload/${id}`, file_id: id } };
    },

    'files.completeUploadExternal': (args, method) => {
      const list = args.files;
      if (!Array.isArray(list) || list.length === 0) return refuse(method, 'invalid_arguments', 'files missing or not JSON');
      const channelId = str(args.channel_id);
      const threadTs = str(args.thread_ts);
      if (threadTs && !channelId) return refuse(method, 'invalid_arguments', 'thread_ts without channel_id');
      const done: EmulatedFile[] = [];
      for (const item of list) {
        const id = str((item as Record<string, unknown> | null)?.id);
        const up = id ? uploads.get(id) : undefined;
        if (!id || !up) return refuse(method, 'file_not_found', `unknown file id ${String(id)}`);
        if (up.content === undefined) return refuse(method, 'file_upload_not_complete', `file ${id} never uploaded`);
      }
      for (const item of list as Record<string, unknown>[]) {
        const up = uploads.get(String(item.id)) as PendingUpload;
        uploads.delete(up.id);
        const f: EmulatedFile = { id: up.id, filename: up.filename, content: up.content ?? '' };
        const title = str(item.title);
        if (title !== undefined) f.title = title;
        if (channelId) f.channel_id = channelId;
        if (threadTs) f.thread_ts = threadTs;
        files.push(f);
        done.push(f);
      }
      return {
        status: 200,
        body: {
          ok: true,
          files: done.map((f) => ({
            id: f.id,
            name: f.filename,
            title: f.title ?? f.filename,
            size: Buffer.byteLength(f.content),
            channels: f.channel_id ? [f.channel_id] : [],
          })),
        },
      };
    },
  };

  const send = (res: ServerResponse, a: Answer): void => {
    const payload = JSON.stringify(a.body);
    res.writeHead(a.status, { 'content-type': 'application/json; charset=utf-8', ...(a.headers ?? {}) });
    res.end(payload);
  };

  const record = (method: string, args: Record<string, unknown>, status: number, body?: Record<string, unknown>) => {
    const c: RecordedCall = { method, args, at: Date.now(), status };
    if (body && typeof body.ok === 'boolean') c.ok = body.ok;
    if (body && typeof body.error === 'string') c.error = body.error;
    calls.push(c);
  };

  /** Applies an injected 429/5xx; true when it answered. */
  const applyFault = (method: string, args: Record<string, unknown>, res: ServerResponse): boolean => {
    const f = takeFault(method);
    if (!f) return false;
    if (f.kind === 'ratelimit') {
      record(method, args, 429, { ok: false, error: 'ratelimited' });
      send(res, { status: 429, body: { ok: false, error: 'ratelimited' }, headers: { 'retry-after': String(f.retryAfterSec) } });
    } else {
      record(method, args, f.status);
      res.writeHead(f.status, { 'content-type': 'text/plain' });
      res.end(f.status === 503 ? 'Service Unavailable' : 'Internal Server Error');
    }
    return true;
  };

  const handleApi = async (req: IncomingMessage, res: ServerResponse, url: URL, method: string): Promise<void> => {
    const raw = await readBody(req);
    const args = parseArgs(raw, req.headers['content-type'] ?? '', url.searchParams);
    const auth = req.headers.authorization;
    const headerToken = auth?.startsWith('Bearer ') ? auth.slice('Bearer '.length).trim() : undefined;
    const token = headerToken ?? str(args.token);
    delete args.token;
    if (applyFault(method, args, res)) return;
    const handler = methods[method];
    let a: Answer;
    if (method === 'apps.connections.open') {
      a = token === appToken ? { status: 200, body: { ok: true, url: `${base.replace('http', 'ws')}/socket` } } : refuse(method, 'invalid_auth', 'apps.connections.open needs the app-level token');
    } else if (!handler) {
      a = refuse(method, 'unknown_method', `no such method ${method}`);
    } else if (!token) {
      a = refuse(method, 'not_authed', 'no token');
    } else if (token !== botToken) {
      a = refuse(method, 'invalid_auth', 'token does not match');
    } else {
      a = handler(args, method);
    }
    record(method, args, a.status, a.body);
    send(res, a);
  };

  const handleUpload = async (req: IncomingMessage, res: ServerResponse, fileId: string): Promise<void> => {
    const raw = await readBody(req);
    const ct = req.headers['content-type'] ?? '';
    const args: Record<string, unknown> = { file_id: fileId, bytes: raw.length, content_type: ct };
    if (applyFault('upload', args, res)) return;
    const up = uploads.get(fileId);
    if (!up) {
      violations.push({ method: 'upload', error: 'file_not_found', detail: `no pending upload ${fileId}`, at: Date.now() });
      record('upload', args, 404);
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('Not Found');
      return;
    }
    let data = raw;
    if (ct.toLowerCase().startsWith('multipart/form-data')) {
      const parts = parseMultipart(raw, ct);
      const filePart = parts.find((p) => p.filename !== undefined) ?? parts[0];
      data = filePart?.data ?? Buffer.alloc(0);
      args.part = filePart?.name;
    }
    if (data.length !== up.length) {
      violations.push({
        method: 'upload',
        error: 'length_mismatch',
        detail: `file ${fileId}: announced ${up.length} bytes, uploaded ${data.length}`,
        at: Date.now(),
      });
    }
    up.content = data.toString('utf8');
    args.length = data.length;
    record('upload', args, 200);
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(`OK - ${data.length}`);
  };

  const handleResponseUrl = async (req: IncomingMessage, res: ServerResponse, path: string): Promise<void> => {
    const raw = await readBody(req);
    const ct = req.headers['content-type'] ?? '';
    let body: unknown = raw.toString('utf8');
    if (ct.toLowerCase().startsWith('application/json')) {
      try {
        body = JSON.parse(String(body));
      } catch {
        // keep text
      }
    }
    responses.push({ path, contentType: ct, body, at: Date.now() });
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('ok');
  };

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const path = url.pathname;
    let work: Promise<void>;
    if ((req.method === 'POST' || req.method === 'GET') && path.startsWith('/api/')) {
      work = handleApi(req, res, url, decodeURIComponent(path.slice('/api/'.length)));
    } else if (req.method === 'POST' && path.startsWith('/upload/')) {
      work = handleUpload(req, res, decodeURIComponent(path.slice('/upload/'.length)));
    } else if (req.method === 'POST' && path.startsWith('/response/')) {
      work = handleResponseUrl(req, res, path);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('Not Found');
      return;
    }
    work.catch((err: unknown) => {
      const status = err instanceof HttpFault ? err.status : 500;
      if (!res.headersSent) {
        res.writeHead(status, { 'content-type': 'text/plain' });
        res.end(err instanceof Error ? err.message : String(err));
      } else {
        res.destroy();
      }
    });
  });

  // Socket Mode: one WebSocket endpoint; every envelope the test sends waits for the client's ack.
  const wss = new WebSocketServer({ noServer: true });
  let socket: WebSocket | null = null;
  let connected: () => void = () => {};
  const connectedOnce = new Promise<void>((r) => (connected = r));
  const acks = new Map<string, (ack: Record<string, unknown>) => void>();
  server.on('upgrade', (req, sock, head) => {
    if (!(req.url ?? '').startsWith('/socket')) return sock.destroy();
    wss.handleUpgrade(req, sock, head, (ws) => {
      socket = ws;
      ws.on('message', (data) => {
        try {
          const msg = JSON.parse(String(data)) as { envelope_id?: string };
          if (msg.envelope_id) acks.get(msg.envelope_id)?.(msg as Record<string, unknown>);
        } catch {
          /* not JSON: ignored */
        }
      });
      ws.send(JSON.stringify({ type: 'hello', num_connections: 1, debug_info: { host: 'emulator' }, connection_info: { app_id: 'A0TRIAGE' } }));
      connected();
    });
  });
  let envelopeSeq = 0;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  base = `http://127.0.0.1:${port}`;

  let responseSeq = 0;
  const emu: SlackEmulator = {
    apiUrl: `${base}/api/`,
    appToken,
    socketConnected: (timeoutMs) =>
      Promise.race([connectedOnce, new Promise<void>((_, reject) => setTimeout(() => reject(new Error('no Socket Mode client connected')), timeoutMs))]),
    socketSend: (type, payload) =>
      new Promise((resolve, reject) => {
        const ws = socket;
        if (!ws) return reject(new Error('no Socket Mode client connected'));
        const id = `env-${++envelopeSeq}`;
        const t = setTimeout(() => reject(new Error(`no ack for ${id}`)), 5000);
        acks.set(id, (ack) => {
          clearTimeout(t);
          resolve(ack);
        });
        ws.send(JSON.stringify({ envelope_id: id, type, accepts_response_payload: type !== 'events_api', payload, retry_attempt: 0, retry_reason: '' }));
      }),
    botToken,
    botUserId,
    botId,
    teamId,
    calls,
    callsTo: (method) => calls.filter((c) => c.method === method),
    messages: (channel) =>
      (channels.get(channel) ?? []).map((m) => ({
        ...m,
        ...(m.blocks !== undefined ? { blocks: structuredClone(m.blocks) } : {}),
      })),
    ephemerals,
    files,
    violations,
    responseUrl: (name) => {
      responseSeq += 1;
      return `${base}/response/${encodeURIComponent(name ?? `r${responseSeq}`)}`;
    },
    responses,
    rateLimit: (method, count, retryAfterSec) => {
      if (count <= 0) return;
      const list = faults.get(method) ?? [];
      list.push({ kind: 'ratelimit', remaining: count, status: 429, retryAfterSec });
      faults.set(method, list);
    },
    failNext: (method, count, status = 500) => {
      if (count <= 0) return;
      const list = faults.get(method) ?? [];
      list.push({ kind: 'fail', remaining: count, status, retryAfterSec: 0 });
      faults.set(method, list);
    },
    clearFaults: (method) => {
      if (method === undefined) faults.clear();
      else faults.delete(method);
    },
    waitFor: (pred, timeoutMs, what) =>
      new Promise<void>((resolve, reject) => {
        const deadline = Date.now() + timeoutMs;
        const tick = (): void => {
          let ok = false;
          try {
            ok = pred(calls);
          } catch {
            ok = false;
          }
          if (ok) {
            resolve();
            return;
          }
          if (Date.now() >= deadline) {
            const seen = calls.map((c) => `${c.method}→${c.status}${c.error ? `(${c.error})` : ''}`).join(', ');
            reject(new Error(`slack emulator: timed out after ${timeoutMs} ms waiting for ${what}; calls so far: [${seen}]`));
            return;
          }
          setTimeout(tick, 20);
        };
        tick();
      }),
    setUsergroup: (id, users) => void usergroups.set(id, [...users]),
    stop: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  return emu;
}
