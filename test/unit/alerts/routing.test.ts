import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { ConfigSchema, RouteSchema, type Route } from '../../../src/config.js';
import { routeAlert, routeMatches } from '../../../src/integrations/alerts/routing.js';
import type { AlertEvent, RouteResult } from '../../../src/integrations/alerts/types.js';

const hostKey = { acceptNew: true };
const ssh = { user: 'triage', agent: true, hostKey };
const config = ConfigSchema.parse({
  hosts: {
    'app-1': { address: '10.0.0.11', ssh },
    'app-2': { address: 'app-2.prod.example.net', ssh },
    'db-1': { address: '10.0.0.21', ssh },
    '127.0.0.1': { address: '127.0.0.1' },
  },
  services: {
    api: { port: 2133, instances: ['app-1', 'app-2'] },
    admin: { port: 8081, instances: ['app-1'] },
    postgres: { port: 5432, instances: ['db-1'] },
  },
});

/** A route as it is, unvalidated: what `config check` refuses must still never crash the router. */
const unchecked = (r: Partial<Route> & { runbook: string }): Route => ({ match: {}, matchRegex: {}, target: { instanceLabel: 'instance' }, ...r });

const routes = (list: unknown[]): Route[] => list.map((r) => RouteSchema.parse(r));

const alert = (labels: Record<string, string>): AlertEvent => ({
  source: 'alertmanager',
  fingerprint: 'f',
  status: 'firing',
  startsAt: '2026-11-25T04:50:00Z',
  labels,
  annotations: {},
});

function refused(r: RouteResult): string {
  if (r.ok) throw new Error(`expected a refusal, got ${JSON.stringify(r)}`);
  expect(r.reason.replaceAll('…', '')).not.toMatch(/[\u0000-\u001f\u007f-\uffff]/u);
  expect(r.reason.length).toBeLessThan(300);
  return r.reason;
}

const INSTANCE = routes([{ match: { alertname: 'ConnResetSpike' }, runbook: 'connreset' }]);

describe('routeAlert: instance label', () => {
  it('resolves an inventory name and finds the service on that port', () => {
    expect(routeAlert(alert({ alertname: 'ConnResetSpike', instance: 'app-1:2133' }), INSTANCE, config)).toEqual({
      ok: true,
      runbook: 'connreset',
      target: { host: 'app-1', port: 2133 },
      service: 'api',
    });
  });

  it('resolves an address to the inventory name (IP and DNS name, case-insensitively)', () => {
    const r1 = routeAlert(alert({ alertname: 'ConnResetSpike', instance: '10.0.0.11:8081' }), INSTANCE, config);
    expect(r1).toEqual({ ok: true, runbook: 'connreset', target: { host: 'app-1', port: 8081 }, service: 'admin' });
    const r2 = routeAlert(alert({ alertname: 'ConnResetSpike', instance: 'APP-2.prod.example.net:2133' }), INSTANCE, config);
    expect(r2).toEqual({ ok: true, runbook: 'connreset', target: { host: 'app-2', port: 2133 }, service: 'api' });
  });

  it('service is null when nothing in the inventory listens on that port there', () => {
    const r = routeAlert(alert({ alertname: 'ConnResetSpike', instance: 'db-1:9187' }), INSTANCE, config);
    expect(r).toEqual({ ok: true, runbook: 'connreset', target: { host: 'db-1', port: 9187 }, service: null });
  });

  it('uses a custom instanceLabel', () => {
    const rs = routes([{ match: { alertname: 'X' }, runbook: 'rb', target: { instanceLabel: 'target' } }]);
    expect(routeAlert(alert({ alertname: 'X', target: 'db-1:5432', instance: 'app-1:2133' }), rs, config)).toEqual({
      ok: true,
      runbook: 'rb',
      target: { host: 'db-1', port: 5432 },
      service: 'postgres',
    });
  });

  it('refuses an unknown host, naming it', () => {
    expect(refused(routeAlert(alert({ alertname: 'ConnResetSpike', instance: 'web-9:2133' }), INSTANCE, config))).toBe('host "web-9" is not in the inventory');
    expect(refused(routeAlert(alert({ alertname: 'ConnResetSpike', instance: '[::1]:2133' }), INSTANCE, config))).toBe('host "::1" is not in the inventory');
  });

  it('refuses a missing instance label or one without a port', () => {
    expect(refused(routeAlert(alert({ alertname: 'ConnResetSpike' }), INSTANCE, config))).toBe('label instance (host:port) is missing or empty');
    expect(refused(routeAlert(alert({ alertname: 'ConnResetSpike', instance: 'app-1' }), INSTANCE, config))).toBe(
      'label instance: "app-1" has no port: expected HOST:PORT, e.g. host-35:2133',
    );
    expect(refused(routeAlert(alert({ alertname: 'ConnResetSpike', instance: 'app-1:99999' }), INSTANCE, config))).toMatch(/^label instance: port 99999 is out of range/);
  });
});

describe('routeAlert: hostile label values', () => {
  it.each([
    ['127.0.0.1;reboot:2133', /^label instance: "127\.0\.0\.1;reboot" is not a host name/],
    ['$(id):1', /^label instance: "\$\(id\)" is not a host name/],
    ['`id`:22', /^label instance: "`id`" is not a host name/],
    ['-oProxyCommand=x:22', /^label instance: "-oProxyCommand=x" is not a host name/],
    ['app-1:2133\nreboot', /^label instance: "2133\\u\{a\}reboot" is not a port/],
    ['app-1\u001b[2J:2133', /^label instance: "app-1\\u\{1b\}\[2J" is not a host name/],
    ['a'.repeat(5000) + ':1', /^label instance: target is too long/],
    ['b'.repeat(250) + ':1', /^host "b{60}…" is not in the inventory$/],
    ['__proto__:1', /^label instance: "__proto__" is not a host name/],
    ['hasOwnProperty:1', /^host "hasOwnProperty" is not in the inventory$/],
    ['constructor:1', /^host "constructor" is not in the inventory$/],
    ['toString:22', /^host "toString" is not in the inventory$/],
  ])('%j is refused, not run', (instance, reason) => {
    expect(refused(routeAlert(alert({ alertname: 'ConnResetSpike', instance }), INSTANCE, config))).toMatch(reason);
  });

  it('a hostile value under a route regex is just text to match, never a pattern', () => {
    const rs = routes([{ matchRegex: { alertname: 'Conn.*' }, runbook: 'rb' }]);
    for (const alertname of ['.*', '(a+)+$', '[', '\\', '(?<x>', 'a'.repeat(1024) + '!']) {
      expect(refused(routeAlert(alert({ alertname, instance: 'app-1:2133' }), rs, config))).toMatch(/^no route matches alertname=/);
    }
  });

  it('prints the alertname escaped and shortened in "no route" reasons', () => {
    expect(refused(routeAlert(alert({ alertname: 'X\u001b]0;pwned\u0007' }), INSTANCE, config))).toBe('no route matches alertname=X\\u{1b}]0;pwned\\u{7}');
    expect(refused(routeAlert(alert({ alertname: 'y'.repeat(1000) }), INSTANCE, config))).toBe(`no route matches alertname=${'y'.repeat(60)}…`);
    expect(refused(routeAlert(alert({}), INSTANCE, config))).toBe('no route matches alertname=(none)');
  });
});

describe('routeAlert: host + port labels', () => {
  const rs = routes([{ match: { alertname: 'PgDown' }, runbook: 'pg', target: { hostLabel: 'host', portLabel: 'port' } }]);
  it('resolves name or address', () => {
    expect(routeAlert(alert({ alertname: 'PgDown', host: 'db-1', port: '5432' }), rs, config)).toEqual({ ok: true, runbook: 'pg', target: { host: 'db-1', port: 5432 }, service: 'postgres' });
    expect(routeAlert(alert({ alertname: 'PgDown', host: '10.0.0.21', port: '5432' }), rs, config)).toEqual({ ok: true, runbook: 'pg', target: { host: 'db-1', port: 5432 }, service: 'postgres' });
  });
  it('refuses missing labels, bad ports and unknown or hostile hosts', () => {
    expect(refused(routeAlert(alert({ alertname: 'PgDown', port: '5432' }), rs, config))).toBe('label host (host) is missing or empty');
    expect(refused(routeAlert(alert({ alertname: 'PgDown', host: 'db-1' }), rs, config))).toBe('label port (port) is missing or empty');
    expect(refused(routeAlert(alert({ alertname: 'PgDown', host: 'db-1', port: '0' }), rs, config))).toBe('label port: "0" is not a port: expected 1-65535');
    expect(refused(routeAlert(alert({ alertname: 'PgDown', host: 'db-1', port: '5432;id' }), rs, config))).toBe('label port: "5432;id" is not a port: expected 1-65535');
    expect(refused(routeAlert(alert({ alertname: 'PgDown', host: 'db-1', port: '1e3' }), rs, config))).toMatch(/is not a port/);
    expect(refused(routeAlert(alert({ alertname: 'PgDown', host: 'db-9', port: '5432' }), rs, config))).toBe('host "db-9" is not in the inventory');
    expect(refused(routeAlert(alert({ alertname: 'PgDown', host: '$(reboot)', port: '5432' }), rs, config))).toBe('host "$(reboot)" is not in the inventory');
  });
});

describe('routeAlert: host + service labels', () => {
  const rs = routes([{ matchRegex: { alertname: 'High connection .*' }, runbook: 'connreset', target: { hostLabel: 'host', serviceLabel: 'service' } }]);
  it('takes the port from the service and checks the host is one of its instances', () => {
    expect(routeAlert(alert({ alertname: 'High connection resets', host: 'app-2', service: 'api' }), rs, config)).toEqual({
      ok: true,
      runbook: 'connreset',
      target: { host: 'app-2', port: 2133 },
      service: 'api',
    });
    expect(routeAlert(alert({ alertname: 'High connection resets', host: '10.0.0.11', service: 'admin' }), rs, config)).toEqual({
      ok: true,
      runbook: 'connreset',
      target: { host: 'app-1', port: 8081 },
      service: 'admin',
    });
  });
  it('refuses a host that is not an instance of the service, or an unknown service', () => {
    expect(refused(routeAlert(alert({ alertname: 'High connection resets', host: 'db-1', service: 'api' }), rs, config))).toBe('host "db-1" is not an instance of service "api"');
    expect(refused(routeAlert(alert({ alertname: 'High connection resets', host: 'app-1', service: 'redis' }), rs, config))).toBe('service "redis" is not in the inventory');
    expect(refused(routeAlert(alert({ alertname: 'High connection resets', host: 'app-1', service: '__proto__' }), rs, config))).toBe('service "__proto__" is not in the inventory');
    expect(refused(routeAlert(alert({ alertname: 'High connection resets', host: 'app-1', service: 'hasOwnProperty' }), rs, config))).toBe('service "hasOwnProperty" is not in the inventory');
    expect(refused(routeAlert(alert({ alertname: 'High connection resets', host: 'app-1' }), rs, config))).toBe('label service (service) is missing or empty');
  });
  it('refuses a route with hostLabel but neither portLabel nor serviceLabel', () => {
    const bad = routes([{ runbook: 'rb', target: { hostLabel: 'host' } }]);
    expect(refused(routeAlert(alert({ host: 'app-1' }), bad, config))).toBe('route for runbook rb: target.hostLabel needs portLabel or serviceLabel');
  });
});

describe('routeAlert: matching', () => {
  const rs = routes([
    { match: { alertname: 'A', severity: 'page' }, runbook: 'first' },
    { match: { alertname: 'A' }, matchRegex: { instance: 'app-.*' }, runbook: 'second' },
    { matchRegex: { alertname: 'A|B' }, runbook: 'third' },
  ]);
  const runbookOf = (labels: Record<string, string>) => {
    const r = routeAlert(alert({ instance: 'app-1:2133', ...labels }), rs, config);
    return r.ok ? r.runbook : r.reason;
  };
  it('takes the first route whose matchers all hold', () => {
    expect(runbookOf({ alertname: 'A', severity: 'page' })).toBe('first');
    expect(runbookOf({ alertname: 'A', severity: 'ticket' })).toBe('second');
    expect(runbookOf({ alertname: 'B' })).toBe('third');
    expect(runbookOf({ alertname: 'C' })).toBe('no route matches alertname=C');
  });
  it('anchors regexes: a partial match is no match', () => {
    expect(runbookOf({ alertname: 'AB' })).toBe('no route matches alertname=AB');
    expect(runbookOf({ alertname: 'xA' })).toBe('no route matches alertname=xA');
    // "A|B" must not become "^A|B$": an anchored group.
    expect(runbookOf({ alertname: 'Ax' })).toBe('no route matches alertname=Ax');
  });
  it('a missing label reads as "" (Alertmanager matcher semantics)', () => {
    const empty = routes([{ match: { team: '' }, runbook: 'no-team' }]);
    expect(routeMatches(empty[0] as Route, { alertname: 'x' })).toBe(true);
    expect(routeMatches(empty[0] as Route, { team: 'a' })).toBe(false);
    const opt = routes([{ matchRegex: { team: 'a|' }, runbook: 'rb' }]);
    expect(routeMatches(opt[0] as Route, {})).toBe(true);
  });
  it('a route with no matchers matches everything', () => {
    expect(routeMatches(routes([{ runbook: 'catch-all' }])[0] as Route, { anything: 'x' })).toBe(true);
  });
  it('does not read a label through the prototype', () => {
    const rs2 = routes([{ matchRegex: { toString: '.+' }, runbook: 'rb' }]);
    expect(routeMatches(rs2[0] as Route, {})).toBe(false);
  });
  it('an invalid regex in the config is no match, not a crash; later routes still apply', () => {
    const withBad = [
      unchecked({ matchRegex: { alertname: '(' }, runbook: 'bad' }),
      unchecked({ matchRegex: { alertname: '[z-a]' }, runbook: 'bad2' }),
      ...routes([{ matchRegex: { alertname: 'A' }, runbook: 'good' }]),
    ];
    const r = routeAlert(alert({ alertname: 'A', instance: 'app-1:2133' }), withBad, config);
    expect(r.ok && r.runbook).toBe('good');
    expect(refused(routeAlert(alert({ alertname: '(' }), withBad.slice(0, 2), config))).toBe('no route matches alertname=(');
  });
  it('no routes at all: a reason', () => {
    expect(refused(routeAlert(alert({ alertname: 'A' }), [], config))).toBe('no route matches alertname=A');
  });
});

describe('routeAlert: ambiguous addresses', () => {
  const shared = ConfigSchema.parse({
    hosts: { 'a-1': { address: '10.1.1.1' }, 'a-2': { address: '10.1.1.1' } },
    services: { web: { port: 80, instances: ['a-2'] } },
  });
  it('prefers the entry that runs a service on that port, else refuses as ambiguous', () => {
    const r = routeAlert(alert({ instance: '10.1.1.1:80' }), routes([{ runbook: 'rb' }]), shared);
    expect(r).toEqual({ ok: true, runbook: 'rb', target: { host: 'a-2', port: 80 }, service: 'web' });
    expect(refused(routeAlert(alert({ instance: '10.1.1.1:22' }), routes([{ runbook: 'rb' }]), shared))).toBe(
      'host "10.1.1.1" is ambiguous in the inventory: a-1, a-2',
    );
  });
});

describe('routeAlert: property', () => {
  it('never throws on arbitrary labels, and any target it returns is an inventory host', () => {
    const rs = [
      ...routes([
        { matchRegex: { alertname: '.*Conn.*' }, runbook: 'a' },
        { match: { kind: 'pg' }, runbook: 'b', target: { hostLabel: 'host', portLabel: 'port' } },
      ]),
      unchecked({ matchRegex: { alertname: '(' }, runbook: 'bad' }),
      ...routes([{ runbook: 'c', target: { hostLabel: 'host', serviceLabel: 'service' } }]),
    ];
    const value = fc.oneof(fc.string({ maxLength: 300 }), fc.constantFrom('app-1:2133', 'db-1', '5432', 'api', '10.0.0.11', 'pg', 'Conn'));
    const labels = fc.dictionary(fc.constantFrom('alertname', 'instance', 'host', 'port', 'service', 'kind', '__proto__', 'x'), value);
    fc.assert(
      fc.property(labels, (l) => {
        const r = routeAlert(alert(l), rs, config);
        if (r.ok) {
          expect(Object.hasOwn(config.hosts, r.target.host)).toBe(true);
          expect(Number.isInteger(r.target.port)).toBe(true);
        } else {
          expect(r.reason).not.toContain('\n');
        }
      }),
      { numRuns: 1000 },
    );
  });
});
