import { describe, it, expect } from 'vitest';
import { parsePrometheusText } from '../../../src/steps/parse/prometheus.js';
import { fixture } from './fixtures.js';

describe('parsePrometheusText', () => {
  it('parses client_golang output with go_sql DBStats metrics', () => {
    const r = parsePrometheusText(fixture('prom-go-sql.txt'));
    expect(r.badLines).toBe(0);
    expect(r.samples).toHaveLength(33);
    expect(r.samples[0]).toEqual({ name: 'go_gc_duration_seconds', labels: { quantile: '0' }, value: 2.9541e-5 });
    expect(r.samples.find((s) => s.name === 'process_start_time_seconds')?.value).toBe(1796068140.31);
    expect(r.samples.find((s) => s.name === 'go_sql_wait_count_total' && s.labels.db_name === 'orders')?.value).toBe(312);
  });

  it('parses Micrometer output (trailing comma in labels, float gauges, blank HELP)', () => {
    const r = parsePrometheusText(fixture('prom-hikaricp-micrometer.txt'));
    expect(r.badLines).toBe(0);
    const pending = r.samples.find((s) => s.name === 'hikaricp_connections_pending');
    expect(pending).toEqual({ name: 'hikaricp_connections_pending', labels: { application: 'billing', pool: 'HikariPool-1' }, value: 37 });
    const uri = r.samples.find((s) => s.name === 'http_server_requests_seconds_count');
    expect(uri?.labels.uri).toBe('/invoices/{id}');
  });

  it('accepts a timestamp', () => {
    const r = parsePrometheusText(fixture('prom-node-postgres.txt'));
    expect(r.badLines).toBe(0);
    expect(r.samples.find((s) => s.name === 'nodejs_eventloop_lag_seconds')?.value).toBe(0.004817);
  });

  it('handles escapes, special values and bad lines', () => {
    const text = [
      '# a comment',
      'm{path="C:\\\\dir",msg="say \\"hi\\"\\nbye"} 1',
      'nan_v NaN',
      'pinf{a="b"} +Inf',
      'ninf -Inf 1700000000000',
      'sci 1.5e+3',
      'neg -0.25',
      'with_spaces { a = "x" , b="y" } 2',
      'empty{} 3',
      'ns:sub_metric 4',
      'bad{a="unterminated} 1',
      'bad2 notanumber',
      'bad3{a=b} 1',
      'bad4 1 2 3',
      'bad5 1 1.5',
      '{a="b"} 1',
      'novalue',
      '',
    ].join('\n');
    const r = parsePrometheusText(text);
    expect(r.badLines).toBe(7);
    const by = Object.fromEntries(r.samples.map((s) => [s.name, s]));
    expect(by.m?.labels).toEqual({ path: 'C:\\dir', msg: 'say "hi"\nbye' });
    expect(Number.isNaN(by.nan_v?.value)).toBe(true);
    expect(by.pinf?.value).toBe(Infinity);
    expect(by.ninf?.value).toBe(-Infinity);
    expect(by.sci?.value).toBe(1500);
    expect(by.neg?.value).toBe(-0.25);
    expect(by.with_spaces?.labels).toEqual({ a: 'x', b: 'y' });
    expect(by.empty?.labels).toEqual({});
    expect(by['ns:sub_metric']?.value).toBe(4);
  });

  it('copes with CRLF and an empty input', () => {
    expect(parsePrometheusText('a 1\r\nb 2\r\n').samples.map((s) => s.value)).toEqual([1, 2]);
    expect(parsePrometheusText('')).toEqual({ samples: [], badLines: 0 });
  });
});
