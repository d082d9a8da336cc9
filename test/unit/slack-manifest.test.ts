import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const root = fileURLToPath(new URL('../../', import.meta.url));

interface SlashCommand {
  command: string;
  url?: string;
  description: string;
  usage_hint?: string;
}

interface Manifest {
  display_information: { name: string; description: string };
  features: { bot_user: { display_name: string; always_online: boolean }; slash_commands: SlashCommand[] };
  oauth_config: { scopes: { bot: string[] } };
  settings: {
    event_subscriptions: { request_url?: string; bot_events: string[] };
    interactivity: { is_enabled: boolean; request_url?: string };
    socket_mode_enabled: boolean;
    org_deploy_enabled: boolean;
    token_rotation_enabled: boolean;
  };
}

function load(name: string): Manifest {
  return parse(readFileSync(`${root}slack/${name}`, 'utf8')) as Manifest;
}

const EVENTS_URL = 'https://triage.example.net/slack/events';

describe.each([
  ['manifest.yaml', false],
  ['manifest.socket.yaml', true],
])('slack/%s', (file, socket) => {
  const m = load(file);

  it('names the app and its always-online bot user', () => {
    expect(m.display_information.name).toBe('triage');
    expect(m.display_information.description.length).toBeGreaterThan(0);
    expect(m.display_information.description.length).toBeLessThanOrEqual(140);
    expect(m.features.bot_user).toEqual({ display_name: 'triage', always_online: true });
  });

  it('asks for exactly the bot scopes the bot uses', () => {
    expect([...m.oauth_config.scopes.bot].sort()).toEqual(['app_mentions:read', 'chat:write', 'commands', 'files:write']);
  });

  it('subscribes to app_mention only', () => {
    expect(m.settings.event_subscriptions.bot_events).toEqual(['app_mention']);
  });

  it('declares /triage with a usage hint', () => {
    expect(m.features.slash_commands).toHaveLength(1);
    const cmd = m.features.slash_commands[0]!;
    expect(cmd.command).toBe('/triage');
    expect(cmd.description.length).toBeGreaterThan(0);
    expect(cmd.usage_hint).toBe('connreset host:port | status | incident ID | help');
  });

  it('enables interactivity and sets the mode flags', () => {
    expect(m.settings.interactivity.is_enabled).toBe(true);
    expect(m.settings.socket_mode_enabled).toBe(socket);
    expect(m.settings.org_deploy_enabled).toBe(false);
    expect(m.settings.token_rotation_enabled).toBe(false);
  });

  it(socket ? 'has no request URLs (Socket Mode)' : 'points every request URL at /slack/events', () => {
    const urls = [
      m.features.slash_commands[0]!.url,
      m.settings.event_subscriptions.request_url,
      m.settings.interactivity.request_url,
    ];
    if (socket) expect(urls).toEqual([undefined, undefined, undefined]);
    else expect(urls).toEqual([EVENTS_URL, EVENTS_URL, EVENTS_URL]);
  });
});

it('the two manifests differ only in mode and request URLs', () => {
  const strip = (m: Manifest): Manifest => {
    const c = structuredClone(m);
    delete c.features.slash_commands[0]!.url;
    delete c.settings.event_subscriptions.request_url;
    delete c.settings.interactivity.request_url;
    c.settings.socket_mode_enabled = false;
    return c;
  };
  expect(strip(load('manifest.socket.yaml'))).toEqual(strip(load('manifest.yaml')));
});
