import { describe, it, expect } from 'vitest';
import * as alerts from '../../../src/integrations/alerts/index.js';
import { loadFixture } from './helpers.js';

describe('integrations/alerts index', () => {
  it('re-exports the parsers, auth and routing', () => {
    for (const name of ['parseAlertmanager', 'parseGrafana', 'parseGeneric', 'checkAuth', 'routeAlert'] as const) {
      expect(typeof alerts[name]).toBe('function');
    }
  });
  it('the fixtures go through the index end to end', () => {
    const am = alerts.parseAlertmanager(loadFixture('alertmanager-v4.json'));
    const gf = alerts.parseGrafana(loadFixture('grafana-webhook.json'));
    expect(am.ok && am.alerts.map((a) => a.source)).toEqual(['alertmanager', 'alertmanager']);
    expect(gf.ok && gf.alerts.map((a) => a.source)).toEqual(['grafana', 'grafana']);
  });
});
