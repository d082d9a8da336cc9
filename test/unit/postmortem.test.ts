import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Incident, TimelineEvent } from '../../src/core/incident.js';
import { draftPostmortem, formatDuration } from '../../src/postmortem/index.js';

interface Fixture {
  incident: Incident;
  timeline: TimelineEvent[];
}

const load = (): Fixture => JSON.parse(readFileSync(join(import.meta.dirname, '../fixtures/incident-db-pool.json'), 'utf8')) as Fixture;
const NOW = new Date('2026-11-25T07:00:00Z');

/** The Markdown between `## <name>` and the next `## ` heading. */
function sectionOf(md: string, name: string): string {
  const start = md.indexOf(`\n## ${name}\n`);
  if (start < 0) return '';
  const rest = md.slice(start + name.length + 5);
  const end = rest.search(/\n## /);
  return end < 0 ? rest : rest.slice(0, end);
}

/** Pipes that split cells: not preceded by an odd run of backslashes. */
function unescapedPipes(line: string): number {
  let n = 0;
  for (let i = 0; i < line.length; i++) {
    if (line[i] !== '|') continue;
    let b = 0;
    for (let j = i - 1; j >= 0 && line[j] === '\\'; j--) b++;
    if (b % 2 === 0) n++;
  }
  return n;
}

/** Every line of the timeline section's table: starts with a pipe and has exactly 4 cell pipes (3 columns). */
function timelineRows(md: string): string[] {
  const sec = sectionOf(md, 'Timeline');
  const lines = sec.split('\n');
  const first = lines.findIndex((l) => l.startsWith('| Time (UTC)'));
  if (first < 0) return [];
  const rows: string[] = [];
  for (const l of lines.slice(first)) {
    if (l === '') break;
    rows.push(l);
  }
  return rows;
}

describe('draftPostmortem on the db-pool incident', () => {
  const fx = load();
  const { markdown: md, json } = draftPostmortem({ ...fx, now: NOW });

  it('has every section in the write-up order', () => {
    const headings = md.split('\n').filter((l) => l.startsWith('## ')).map((l) => l.slice(3));
    expect(headings).toEqual(['Summary', 'Impact', 'Detection', 'Timeline', 'Investigation', 'Root cause', 'Stop-loss and resolution', 'Reproduction', 'Fix', 'Action items', 'Lessons']);
    expect(md.startsWith('# Postmortem: connection reset by peer on checkout at lab-1:2133 (2026-11-25)\n')).toBe(true);
    expect(json.title).toBe('Postmortem: connection reset by peer on checkout at lab-1:2133 (2026-11-25)');
    expect(json.problems).toEqual([]);
  });

  it('summary: what broke, how long, root cause, how it was stopped', () => {
    expect(json.summary).toContain('connection reset by peer');
    expect(json.summary).toContain('6 min 1 s');
    expect(json.summary).toContain('db-pool-saturation');
    expect(json.summary).toMatch(/restart on lab-1:2133 approved by U0ALICE/i);
    expect(json.summary).toContain('recovery verified');
  });

  it('impact: duration from the first alert to mitigation, targets, probe counts', () => {
    expect(json.impact).toMatchObject({
      startedAt: '2026-11-25T05:52:40.000Z',
      startedFrom: 'alert',
      endedAt: '2026-11-25T05:58:41.300Z',
      endedBy: 'mitigated',
      ongoing: false,
      durationMs: 361_300,
      duration: '6 min 1 s',
      targets: ['lab-1:2133'],
    });
    expect(json.impact.symptom).toMatchObject({ kind: 'reset', total: 10, counts: { reset: 9, 'read-timeout': 1 } });
    const impact = sectionOf(md, 'Impact');
    expect(impact).toContain('**Duration:** 6 min 1 s (05:52:40 → 05:58:41 UTC, from the first alert to mitigation)');
    expect(impact).toContain('9/10 probes reset, 1/10 probes read-timeout');
  });

  it('detection: the alert, its source and when', () => {
    const det = sectionOf(md, 'Detection');
    expect(det).toContain('Alert FdUsageHigh from alertmanager, firing since 05:52:40 UTC; the incident was opened at 05:53:10 UTC.');
    expect(det).toContain('HighConnResets');
    expect(json.detection).toMatchObject({ kind: 'alert', alertname: 'FdUsageHigh', source: 'alertmanager' });
  });

  it('timeline: one row per event, in time order, with who approved', () => {
    const rows = timelineRows(md);
    expect(rows.length).toBe(2 + fx.timeline.length);
    for (const r of rows) expect(unescapedPipes(r)).toBe(4);
    expect(rows).toContain('| 05:58:02 | Approval given | restart of checkout on lab-1:2133 approved (by U0ALICE) |');
    expect(rows).toContain('| 05:58:09 | Action finished | restart checkout on lab-1:2133 finished |');
    expect(rows).toContain('| 05:58:41 | Mitigated | lab-1:2133 answers again after the restart (by triage) |');
    expect(rows.filter((r) => r.includes('| Step finished |'))).toHaveLength(8);
    const times = json.timeline.map((e) => e.at);
    expect([...times].sort()).toEqual(times);
  });

  it('investigation: critical and warning findings first, evidence in capped code blocks', () => {
    const inv = sectionOf(md, 'Investigation');
    const severities = json.investigation.findings.map((f) => f.severity);
    expect(severities.slice(0, 5)).toEqual(['critical', 'critical', 'critical', 'critical', 'warning']);
    expect(inv).toContain('### 1. [critical] 129/128 descriptors open (101%)');
    expect(inv).toContain('```text\nCLOSE-WAIT 95, TIME-WAIT 14, ESTAB 11, LISTEN 1\n```');
    const logs = json.investigation.findings.find((f) => f.id === 'logs-read');
    expect(logs?.evidence).toHaveLength(5);
    expect(logs?.evidenceOmitted).toBe(2);
    expect(inv).toContain('… 2 more evidence lines.');
    expect(inv).toContain('history skipped: not run: prometheusUrl: not configured');
  });

  it('root cause: id, summary, the chain with each link verified, ruled out with reasons', () => {
    const rc = sectionOf(md, 'Root cause');
    expect(rc).toContain('**DB connection pool saturation** (`db-pool-saturation`, confidence 95%)');
    expect(rc).toContain('**Causal chain:** db-pool-saturation → handler-blocked → close-wait-pileup → fd-exhaustion → reset');
    expect(rc).toContain('1. db-pool-saturation → handler-blocked — **verified**: requests queue for a connection (19 waits)');
    expect(rc).toContain('4. fd-exhaustion → reset — **verified**: 9 probes saw reset with 129/128 fds open');
    expect(rc).toContain('- listen-backlog-overflow: ListenOverflows unchanged over 2.0 s, accept queue 0/511');
    expect(rc).toContain('**Caveats:**\n\nNone.');
    expect(json.rootCause?.chain).toEqual(['db-pool-saturation', 'handler-blocked', 'close-wait-pileup', 'fd-exhaustion', 'reset']);
    expect(json.rootCause?.links.every((l) => l.verified)).toBe(true);
    expect(json.rootCause?.ruledOut).toHaveLength(5);
  });

  it('stop-loss: who approved what, what ran, the exit code, recovery verified', () => {
    const sl = sectionOf(md, 'Stop-loss and resolution');
    expect(json.stopLoss.actionTaken).toBe(true);
    expect(json.stopLoss.approvals.find((a) => a.decision === 'given')).toMatchObject({ by: 'U0ALICE', action: 'restart', target: 'lab-1:2133' });
    expect(json.stopLoss.actions.find((a) => a.phase === 'finished')).toMatchObject({ action: 'restart', exitCode: 0, durationMs: 4100 });
    expect(json.stopLoss.recovery).toMatchObject({ verified: true, at: '2026-11-25T05:58:40.500Z' });
    expect(sl).toContain('approval given for restart on lab-1:2133 by **U0ALICE**');
    expect(sl).toContain('exit code 0');
    expect(sl).toContain('snapshot (scene kept)');
    expect(sl).toContain('**Recovery:** verified at 05:58:40 UTC');
    expect(sl).not.toContain('No action was taken by triage.');
  });

  it('reproduction, fix, action items, lessons', () => {
    expect(sectionOf(md, 'Reproduction')).toContain("Lower the DB pool's maximum open connections (it was 2) under load");
    expect(sectionOf(md, 'Reproduction')).toContain('`triage lab --scenario db-pool`');
    const fix = sectionOf(md, 'Fix');
    expect(fix.match(/^- \[ \] /gm)).toHaveLength(3);
    expect(fix).toContain("Raise the pool's maximum open connections (now 2)");
    const items = sectionOf(md, 'Action items');
    expect(items).toContain('**Stop-loss**\n\n- [x] Stop the loss');
    expect(items).toContain('**Monitoring**\n\n- [ ] Monitor and alert on pool waiters');
    const lessons = json.lessons.join('\n');
    expect(lessons).toContain('Stop the loss first');
    expect(lessons).toContain('Keep the scene: a snapshot was taken at 05:58:03 UTC');
    expect(lessons).toContain('was 2/2');
    expect(lessons).toContain('7 days');
    expect(lessons).toContain('Capacity settings must follow traffic: the pool max of 2');
  });

  it('redacts secrets from log lines, command lines and action commands, in Markdown and JSON', () => {
    const all = `${md}\n${JSON.stringify(json)}`;
    expect(JSON.stringify(fx)).toContain('Sup3rS3cret');
    expect(all).not.toContain('Sup3rS3cret');
    expect(all).not.toContain('tok_live_9f8e7d6c5b4a');
    expect(md).toContain('postgres://app:[REDACTED]@db-1:5432/orders failed, password=[REDACTED]');
    expect(md).toContain('--api-token [REDACTED]');
    expect(json.stopLoss.actions[0]?.command).toBe('/usr/local/bin/svcctl restart checkout --host lab-1 --api-token [REDACTED]');
  });

  it('is deterministic for the same input', () => {
    expect(draftPostmortem({ ...load(), now: NOW }).markdown).toBe(md);
  });
});

describe('draftPostmortem edge cases', () => {
  it('a failed investigation (no report) still yields a postmortem with the error and the timeline', () => {
    const fx = load();
    const { report: _report, ...rest } = fx.incident;
    const incident: Incident = { ...rest, status: 'failed', error: 'ssh lab-1: Permission denied (publickey) password=hunter2' };
    const timeline: TimelineEvent[] = [
      ...fx.timeline.slice(0, 4),
      { at: '2026-11-25T05:56:20.000Z', type: 'investigation-failed', message: 'ssh lab-1: Permission denied (publickey) password=hunter2', data: { code: 'ssh_auth' } },
    ];
    const { markdown: md, json } = draftPostmortem({ incident, timeline, now: NOW });
    expect(md.split('\n').filter((l) => l.startsWith('## '))).toHaveLength(11);
    expect(md).toContain('# Postmortem: failed investigation on lab-1:2133 (2026-11-25)');
    expect(sectionOf(md, 'Investigation')).toContain('The investigation failed: `ssh lab-1: Permission denied (publickey) password=[REDACTED]`');
    expect(sectionOf(md, 'Root cause')).toContain('Not determined: the investigation failed');
    expect(sectionOf(md, 'Stop-loss and resolution')).toContain('No action was taken by triage.');
    expect(sectionOf(md, 'Impact')).toContain('ongoing (1 h 7 min so far)');
    expect(json.impact.ongoing).toBe(true);
    expect(json.summary).toContain('The investigation failed');
    expect(timelineRows(md)).toHaveLength(2 + timeline.length);
    expect(timelineRows(md).at(-1)).toContain('| Investigation failed |');
    expect(`${md}${JSON.stringify(json)}`).not.toContain('hunter2');
    expect(json.actionItems.flatMap((g) => g.items).some((i) => i.text.includes('Make the investigation succeed'))).toBe(true);
  });

  it('without actions: "No action was taken by triage." plus the stop-loss recommendation', () => {
    const fx = load();
    const timeline = fx.timeline.filter((e) => !/^(approval|action|snapshot|recovery|mitigated)/.test(e.type));
    const { markdown: md, json } = draftPostmortem({ incident: fx.incident, timeline, now: NOW });
    const sl = sectionOf(md, 'Stop-loss and resolution');
    expect(sl).toContain('No action was taken by triage.');
    expect(sl).toContain('Recommended stop-loss:\n\n- Stop the loss: restart the affected instances');
    expect(json.stopLoss.actionTaken).toBe(false);
    expect(json.impact.ongoing).toBe(true);
    expect(sectionOf(md, 'Action items')).toContain('- [ ] Stop the loss');
    expect(json.lessons.join('\n')).toContain('Keep the scene: no snapshot');
  });

  it('pipes and newlines in data do not break the table', () => {
    const fx = load();
    const timeline: TimelineEvent[] = [
      ...fx.timeline,
      { at: '2026-11-25T05:59:00.000Z', type: 'step-finished', message: 'logs failed: tail | grep exited 1\nsecond line | x \\| y \\', data: { user: 'U|EVE\nX' } },
    ];
    const { markdown: md } = draftPostmortem({ incident: fx.incident, timeline, now: NOW });
    const rows = timelineRows(md);
    expect(rows).toHaveLength(2 + timeline.length);
    for (const r of rows) expect(unescapedPipes(r)).toBe(4);
    expect(rows.at(-1)).toBe('| 05:59:00 | Step finished | logs failed: tail \\| grep exited 1 second line \\| x \\\\\\| y \\\\ (by U\\|EVE X) |');
  });

  it('survives garbage: a non-object incident, malformed report and timeline', () => {
    const weird = [
      { incident: null, timeline: null, now: NOW },
      { incident: { id: 'x', report: { diagnosis: 5, findings: 'no', symptom: { kind: 7 } } }, timeline: [1, 'a', { at: 'soon', type: 3 }], now: new Date(Number.NaN) },
      { incident: { ...load().incident, alerts: 'x', trigger: null, createdAt: 'garbage' }, timeline: [], now: NOW },
    ];
    for (const w of weird) {
      const r = draftPostmortem(w as unknown as Parameters<typeof draftPostmortem>[0]);
      expect(r.markdown).toMatch(/^# Postmortem/);
      expect(typeof r.json.summary).toBe('string');
    }
  });

  it('an event on another day carries its date; resolution ends the impact', () => {
    const fx = load();
    const timeline = [...fx.timeline.filter((e) => !/^(recovery|mitigated)/.test(e.type)), { at: '2026-11-26T01:02:03.000Z', type: 'resolved', message: 'all alerts resolved' } as TimelineEvent];
    const { markdown: md, json } = draftPostmortem({ incident: fx.incident, timeline, now: NOW });
    expect(timelineRows(md).at(-1)).toBe('| 2026-11-26 01:02:03 | Resolved | all alerts resolved |');
    expect(json.impact).toMatchObject({ endedBy: 'resolved', duration: '19 h 9 min' });
    expect(json.stopLoss.recovery.verified).toBeNull();
    expect(sectionOf(md, 'Stop-loss and resolution')).toContain('**Recovery:** not checked by triage');
  });

  it('formats durations', () => {
    expect(formatDuration(45_000)).toBe('45 s');
    expect(formatDuration(361_300)).toBe('6 min 1 s');
    expect(formatDuration(2 * 3600_000 + 5 * 60_000)).toBe('2 h 5 min');
    expect(formatDuration(27 * 3600_000)).toBe('1 d 3 h');
  });

  it('property: arbitrary timeline events never throw and never break a table row', () => {
    const fx = load();
    const text = fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.constantFrom('|', '\\|', '\\', '\n|\n', '| a | b |', '\r\n', '\u2028', '```'));
    const event = fc.record({
      at: fc.oneof(fc.date({ min: new Date('2026-11-25T00:00:00Z'), max: new Date('2026-11-26T00:00:00Z'), noInvalidDate: true }).map((d) => d.toISOString()), text),
      type: fc.oneof(fc.constantFrom('created', 'step-finished', 'approval-given', 'approval-denied', 'action-started', 'action-finished', 'recovery-verified', 'mitigated', 'snapshot-taken'), text),
      message: fc.array(text, { maxLength: 4 }).map((xs) => xs.join('|')),
      data: fc.option(fc.oneof(fc.record({ by: text, user: text, exitCode: fc.oneof(fc.integer(), text), argv: fc.array(text), host: text }, { requiredKeys: [] }), fc.anything() as fc.Arbitrary<never>), { nil: undefined }),
    });
    fc.assert(
      fc.property(fc.array(event, { maxLength: 12 }), fc.boolean(), (events, withReport) => {
        const incident = withReport ? fx.incident : { ...fx.incident, report: undefined, status: 'failed' as const, error: 'boom | bang' };
        const timeline = events.map((e) => (e.data === undefined ? { at: e.at, type: e.type, message: e.message } : e)) as unknown as TimelineEvent[];
        const { markdown } = draftPostmortem({ incident, timeline, now: NOW });
        const rows = timelineRows(markdown);
        if (events.length === 0) return rows.length === 0;
        if (rows.length !== 2 + events.length) return false;
        return rows.every((r, i) => (i === 1 ? r === '|---|---|---|' : r.startsWith('| ') && r.endsWith(' |')) && unescapedPipes(r) === 4);
      }),
      { numRuns: 300 },
    );
  });
});
