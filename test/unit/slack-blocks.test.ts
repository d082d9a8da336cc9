import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Finding } from '../../src/core/facts.js';
import type { Report } from '../../src/engine/report.js';
import type { OutMessage } from '../../src/integrations/chat/adapter.js';
import { EVIDENCE_LINES, LIMITS, longEvidence, renderBlocks, type Block } from '../../src/integrations/slack/blocks.js';

/** A real report: `node dist/cli.js demo --json` on the db-pool lab. */
const REPORT: Report = JSON.parse(readFileSync(join(import.meta.dirname, '../fixtures/report-db-pool.json'), 'utf8')) as Report;
const clone = (): Report => structuredClone(REPORT);

function texts(blocks: Block[]): { kind: string; text: string }[] {
  return blocks.flatMap((b) => {
    if (b.type === 'header' || b.type === 'section') return [{ kind: b.type === 'header' ? 'plain_text' : b.text.type, text: b.text.text }];
    if (b.type === 'context') return b.elements.map((e) => ({ kind: e.type, text: e.text }));
    return [];
  });
}

function all(r: { text: string; blocks: Block[] }): string {
  return [r.text, ...texts(r.blocks).map((t) => t.text)].join('\n');
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Every limit Slack enforces, plus: no markup from data, balanced code blocks, well-formed text. */
function expectValid(r: { text: string; blocks: Block[] }): void {
  expect(r.text.length).toBeGreaterThan(0);
  expect(r.text.length).toBeLessThanOrEqual(LIMITS.fallbackText);
  expect(r.blocks.length).toBeGreaterThan(0);
  expect(r.blocks.length).toBeLessThanOrEqual(LIMITS.blocks);
  let total = 0;
  for (const b of r.blocks) {
    if (b.type === 'header') {
      expect(b.text.type).toBe('plain_text');
      expect(b.text.text.length).toBeGreaterThan(0);
      expect(b.text.text.length).toBeLessThanOrEqual(LIMITS.headerText);
      expect(b.text.text).not.toMatch(/\n/);
      total += b.text.text.length;
    } else if (b.type === 'section') {
      expect(b.text.text.length).toBeGreaterThan(0);
      expect(b.text.text.length).toBeLessThanOrEqual(LIMITS.sectionText);
      expect(b.text.text.split('```').length % 2).toBe(1); // fences balanced
      total += b.text.text.length;
    } else if (b.type === 'context') {
      expect(b.elements.length).toBeGreaterThan(0);
      expect(b.elements.length).toBeLessThanOrEqual(LIMITS.contextElements);
      for (const e of b.elements) {
        expect(e.text.length).toBeGreaterThan(0);
        expect(e.text.length).toBeLessThanOrEqual(LIMITS.contextText);
        total += e.text.length;
      }
    }
  }
  expect(total).toBeLessThanOrEqual(LIMITS.totalText);
  for (const t of [{ kind: 'mrkdwn', text: r.text }, ...texts(r.blocks)]) {
    expect(t.text).not.toMatch(LONE_SURROGATE);
    expect(t.text).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u202a-\u202e\u2066-\u2069]/);
    if (t.kind === 'mrkdwn') {
      // Nothing can form a link or a mention: no angle brackets at all, every & is an entity.
      expect(t.text).not.toMatch(/[<>]/);
      expect(t.text.replace(/&(?:amp|lt|gt);/g, '')).not.toContain('&');
    }
  }
  for (const b of r.blocks) if (b.type === 'section' && b.text.type === 'mrkdwn') expect(b.text.verbatim).toBe(true);
  expect(() => JSON.stringify(r)).not.toThrow();
}

const finding = (over: Partial<Finding> = {}): Finding => ({ id: 'f', step: 'logs', severity: 'warning', title: 'a title', detail: 'a detail', ...over });

describe('renderBlocks: the db-pool report', () => {
  it('diagnosis: root cause, confidence, summary, chain, ruled out, recommendations by kind, incident', () => {
    const r = renderBlocks({ kind: 'diagnosis', report: REPORT, incidentId: 'inc-mf3k2x-9a8b7c6d' });
    expectValid(r);
    const s = all(r);
    expect(r.blocks[0]).toMatchObject({ type: 'header', text: { text: `Diagnosis: connreset — 127.0.0.1:${REPORT.target.port}` } });
    expect(s).toContain('*Root cause:* `db-pool-saturation` — confidence 95%');
    expect(s).toContain('The DB connection pool is saturated');
    expect(s).toContain('*Chain:* `db-pool-saturation` → `handler-blocked` → `close-wait-pileup` → `fd-exhaustion` → `reset`');
    expect(s).not.toContain('unverified');
    expect(s).toContain('*Ruled out*\n• `fd-leak`: sockets hold 84% of the open descriptors, not files');
    expect(s).toContain('host file table at &lt;1% of file-max'); // data escaped
    expect(s).toMatch(/🛑 \*Stop the loss\*\n• Stop the loss: restart/);
    expect(s).toMatch(/🔧 \*Fix\*\n• Raise the pool's maximum open connections[^\n]*\n• Bound the wait/);
    expect(s).toContain('📈 *Monitoring*');
    expect(s.indexOf('Stop the loss*')).toBeLessThan(s.indexOf('*Fix*'));
    expect(s.indexOf('*Fix*')).toBeLessThan(s.indexOf('*Monitoring*'));
    const last = r.blocks[r.blocks.length - 1];
    expect(last?.type).toBe('context');
    expect(JSON.stringify(last)).toContain('Incident `inc-mf3k2x-9a8b7c6d`');
    expect(r.text).toBe('[inc-mf3k2x-9a8b7c6d] Root cause: db-pool-saturation (95%) — db-pool-saturation → handler-blocked → close-wait-pileup → fd-exhaustion → reset');
  });

  it('diagnosis without an incident id has no incident in its context', () => {
    const r = renderBlocks({ kind: 'diagnosis', report: REPORT });
    expectValid(r);
    expect(all(r)).not.toContain('Incident');
  });

  it('diagnosis: unverified links are marked, next checks grouped', () => {
    const rep = clone();
    const link = rep.diagnosis.links[1];
    if (link) {
      link.verified = false;
      link.evidence = 'no measured fact links them';
    }
    rep.recommendations.push({ kind: 'next-check', text: 'Read pg_stat_activity' }, { kind: 'rollback', text: 'Roll back <@U123>' });
    const r = renderBlocks({ kind: 'diagnosis', report: rep });
    expectValid(r);
    const s = all(r);
    expect(s).toContain('`handler-blocked` → _(unverified)_ `close-wait-pileup`');
    expect(s).toContain('❔ `handler-blocked` → `close-wait-pileup`: no measured fact links them');
    expect(s).toContain('🔍 *Next checks*\n• Read pg_stat_activity');
    expect(s).toContain('*rollback*\n• Roll back &lt;@U123&gt;');
  });

  it('diagnosis without a root cause says so, with the reason', () => {
    const rep = clone();
    rep.diagnosis = { ...rep.diagnosis, rootCause: null, chain: [], links: [], caveats: ['db-stats failed: timeout', 'no hypothesis explains the symptom with the facts measured'] };
    const r = renderBlocks({ kind: 'diagnosis', report: rep });
    expectValid(r);
    expect(all(r)).toContain('*No root cause found*: no hypothesis explains the symptom with the facts measured');
    expect(all(r)).toContain('*Caveats*\n• db-stats failed: timeout');
    expect(r.text).toMatch(/^No root cause found for connreset on 127\.0\.0\.1:\d+$/);
    expect(all(r)).not.toContain('*Chain:*');
  });

  it('diagnosis of a healthy service', () => {
    const rep = clone();
    rep.diagnosis = { ...rep.diagnosis, rootCause: { id: 'no-fault-found', confidence: 0.9, summary: 'Every probe succeeded.' }, chain: [], links: [] };
    const r = renderBlocks({ kind: 'diagnosis', report: rep });
    expectValid(r);
    expect(all(r)).toContain('✅ *No fault found* — confidence 90%\nEvery probe succeeded.');
  });

  it('diagnosis with an unmeasured symptom', () => {
    const rep = clone();
    rep.symptom = { kind: null, reason: 'probe-http failed: <timeout>' };
    const r = renderBlocks({ kind: 'diagnosis', report: rep });
    expectValid(r);
    expect(all(r)).toContain('*Symptom:* not measured — probe-http failed: &lt;timeout&gt;');
  });

  it('findings: severity emoji, bold title, detail, evidence in a code block', () => {
    const r = renderBlocks({ kind: 'findings', step: 'fds', findings: REPORT.findings });
    expectValid(r);
    expect(r.blocks).toHaveLength(1 + REPORT.findings.length);
    const s = all(r);
    expect(s).toContain('🔴 *129/128 descriptors open (101%)*\n109 socket, 9 pipe');
    expect(s).toContain('```\n1× /\n1× /dev/null\n');
    expect(s).toContain('🟠 *latency rising');
    expect(s).toContain('⚪ *accept queue 0/511*\nthe process accepts promptly');
    // critical first, as sortFindings orders them
    const body = texts(r.blocks).map((t) => t.text).join('\n');
    expect(body.lastIndexOf('🔴')).toBeLessThan(body.indexOf('🟠'));
    expect(body.lastIndexOf('🟠')).toBeLessThan(body.indexOf('⚪'));
    expect(r.text).toMatch(/^9 findings from fds: 🔴 129\/128 descriptors open/);
    expect(longEvidence({ kind: 'findings', step: 'fds', findings: REPORT.findings })).toEqual([]);
  });

  it('findings: no findings', () => {
    const r = renderBlocks({ kind: 'findings', step: 'fds', findings: [] });
    expectValid(r);
    expect(all(r)).toContain('No findings.');
  });

  it('progress: a header and one line per step with emoji, duration, error', () => {
    const steps: Extract<OutMessage, { kind: 'progress' }>['steps'] = [
      { id: 'probe-http', status: 'ok', durationMs: 3064 },
      { id: 'fds', status: 'running' },
      { id: 'db-stats', status: 'failed', durationMs: 12, error: 'curl: <connection refused>' },
      { id: 'history', status: 'skipped', durationMs: 0, error: 'not configured' },
    ];
    const r = renderBlocks({ kind: 'progress', title: 'connreset on host-35:2133', steps });
    expectValid(r);
    expect(r.blocks[0]).toEqual({ type: 'header', text: { type: 'plain_text', text: 'Investigating connreset on host-35:2133', emoji: true } });
    const s = all(r);
    expect(s).toContain('✅ `probe-http` 3.1 s\n⏳ `fds`\n❌ `db-stats` 12 ms — curl: &lt;connection refused&gt;\n➖ `history` 0 ms — _not configured_');
    expect(r.text).toBe('Investigating connreset on host-35:2133: 3/4 steps done, 1 failed');
  });

  it('text and usage', () => {
    const t = renderBlocks({ kind: 'text', text: 'Already on it: incident inc-1-a for host-35:2133 <!here>' });
    expectValid(t);
    expect(t.blocks).toEqual([{ type: 'section', text: { type: 'mrkdwn', text: 'Already on it: incident inc-1-a for host-35:2133 &lt;!here&gt;', verbatim: true } }]);
    const u = renderBlocks({ kind: 'usage', text: 'unknown runbook "x"\nUsage:\n  connreset HOST:PORT' });
    expectValid(u);
    expect(all(u)).toContain('```\nunknown runbook "x"\nUsage:\n  connreset HOST:PORT\n```');
  });
});

describe('renderBlocks: data never becomes markup', () => {
  const HOSTILE = ['<!channel>', '<!here>', '<@U123>', '<#C123|general>', '<http://evil.example|click me>', '&lt;!channel&gt;', '<!subteam^S1>'];

  it.each(HOSTILE)('%s in every field of a finding comes out inert', (h) => {
    const m: OutMessage = { kind: 'findings', step: h, findings: [finding({ id: h, title: h, detail: h, evidence: [h, `\`\`\`${h}\`\`\``] })] };
    const r = renderBlocks(m);
    expectValid(r);
    expect(all(r)).not.toContain(h.slice(0, 3) === '&lt' ? '&lt;!' : h);
  });

  it('escapes &, <, > exactly once', () => {
    const r = renderBlocks({ kind: 'text', text: 'a & b < c > d &amp;' });
    expect(all(r)).toContain('a &amp; b &lt; c &gt; d &amp;amp;');
  });

  it('evidence cannot close its code block', () => {
    const r = renderBlocks({ kind: 'findings', step: 'logs', findings: [finding({ evidence: ['before ``` *bold* <!channel>', '```', 'after'] })] });
    expectValid(r);
    const section = r.blocks[1];
    expect(section?.type).toBe('section');
    const text = section?.type === 'section' ? section.text.text : '';
    expect(text.split('```')).toHaveLength(3); // exactly one opening and one closing fence
    expect(text).toContain('before ˋˋˋ *bold* &lt;!channel&gt;');
  });

  it('titles and details cannot open a code block either', () => {
    const r = renderBlocks({ kind: 'findings', step: 'logs', findings: [finding({ title: '```', detail: '````x', evidence: ['e'] })] });
    expectValid(r);
    expect(all(r)).toContain('*ˋˋˋ*\nˋˋˋˋx\n```\ne\n```');
  });

  it('control characters and RTL overrides are neutralised', () => {
    const r = renderBlocks({ kind: 'progress', title: 'a\u202eb\u0007c\nd', steps: [{ id: 'x\u0000', status: 'ok' }] });
    expectValid(r);
    expect(r.blocks[0]).toMatchObject({ text: { text: 'Investigating a\ufffdb\ufffdc d' } });
  });
});

describe('renderBlocks: cutting what does not fit', () => {
  it('evidence beyond EVIDENCE_LINES lines is cut, named, and comes back from longEvidence', () => {
    const evidence = Array.from({ length: 20 }, (_, i) => `CLOSE-WAIT 0 0 127.0.0.1:2133 127.0.0.1:${40000 + i}`);
    const m: OutMessage = { kind: 'findings', step: 'tcp-states', findings: [finding({ id: 'close-wait', step: 'tcp-states', evidence })] };
    const r = renderBlocks(m);
    expectValid(r);
    const s = all(r);
    expect(s).toContain(evidence[EVIDENCE_LINES - 1]);
    expect(s).not.toContain(evidence[EVIDENCE_LINES]);
    expect(s).toContain(`_… ${20 - EVIDENCE_LINES} more lines in \`evidence-tcp-states-close-wait.txt\`_`);
    expect(longEvidence(m)).toEqual([{ filename: 'evidence-tcp-states-close-wait.txt', title: 'Evidence: a title', content: evidence.join('\n') }]);
  });

  it('a long evidence line is cut and its full text goes to a file', () => {
    const line = `dbstats ${'{"x":1}'.repeat(200)}`;
    const m: OutMessage = { kind: 'findings', step: 'logs', findings: [finding({ id: 'dbstats', evidence: [line] })] };
    const r = renderBlocks(m);
    expectValid(r);
    expect(all(r)).toContain('long lines cut; full evidence in `evidence-logs-dbstats.txt`');
    expect(longEvidence(m)[0]?.content).toBe(line);
  });

  it('file names are safe and distinct', () => {
    const ev = Array.from({ length: 10 }, () => 'x');
    const m: OutMessage = { kind: 'findings', step: '../../etc', findings: [finding({ id: 'a/b c', evidence: ev }), finding({ id: 'a/b c', evidence: ev })] };
    const names = longEvidence(m).map((f) => f.filename);
    expect(names).toEqual(['evidence-.._.._etc-a_b_c.txt', 'evidence-.._.._etc-a_b_c-2.txt']);
    for (const n of names) expect(n).toMatch(/^[A-Za-z0-9][A-Za-z0-9._-]*\.txt$/);
  });

  it('findings that do not fit are counted and go to a file', () => {
    const findings = Array.from({ length: 120 }, (_, i) => finding({ id: `f${i}`, title: `finding ${i}`, detail: 'd'.repeat(200), evidence: ['e1', 'e2'] }));
    const m: OutMessage = { kind: 'findings', step: 'logs', findings };
    const r = renderBlocks(m);
    expectValid(r);
    const shown = r.blocks.filter((b) => b.type === 'section').length;
    expect(shown).toBeGreaterThan(10);
    expect(shown).toBeLessThan(120);
    expect(all(r)).toContain(`… ${120 - shown} more findings in the file \`findings-logs-more.txt\``);
    const files = longEvidence(m);
    expect(files).toHaveLength(1);
    expect(files[0]?.filename).toBe('findings-logs-more.txt');
    expect(files[0]?.content.split('\n\n')).toHaveLength(120 - shown);
    expect(files[0]?.content).toContain(`[warning] finding ${shown}\n`);
  });

  it('a huge diagnosis is cut and says so', () => {
    const rep = clone();
    rep.diagnosis.rootCause = { id: 'db-pool-saturation', confidence: 0.95, summary: 'S'.repeat(100_000) };
    rep.diagnosis.caveats = Array.from({ length: 500 }, (_, i) => `caveat ${i} ${'c'.repeat(300)}`);
    rep.recommendations = Array.from({ length: 300 }, (_, i) => ({ kind: i % 2 ? 'fix' : 'stop-loss', text: `rec ${i} ${'r'.repeat(1000)}` }));
    const r = renderBlocks({ kind: 'diagnosis', report: rep, incidentId: 'inc-mf3k2x-9a8b7c6d' });
    expectValid(r);
    expect(all(r)).toMatch(/\(truncated: \d+ more lines not shown — see the full report\)/);
    expect(JSON.stringify(r.blocks[r.blocks.length - 1])).toContain('inc-mf3k2x-9a8b7c6d');
  });

  it('a huge text is split into sections and cut', () => {
    const r = renderBlocks({ kind: 'text', text: Array.from({ length: 5000 }, (_, i) => `line ${i} <&>`).join('\n') });
    expectValid(r);
    expect(r.blocks.filter((b) => b.type === 'section').length).toBeGreaterThan(1);
    expect(all(r)).toContain('(truncated)');
    const u = renderBlocks({ kind: 'usage', text: 'u'.repeat(10_000) });
    expectValid(u);
    expect(all(u)).toContain('(truncated)');
  });

  it('many steps', () => {
    const steps = Array.from({ length: 2000 }, (_, i) => ({ id: `step-${i}`, status: 'failed' as const, durationMs: i, error: 'e'.repeat(500) }));
    const r = renderBlocks({ kind: 'progress', title: 'T'.repeat(1000), steps });
    expectValid(r);
    expect(all(r)).toMatch(/… \d+ more steps \(truncated\)/);
  });
});

describe('renderBlocks: properties', () => {
  const fragment = fc.oneof(
    { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
    { weight: 3, arbitrary: fc.constantFrom('```', '`', '<!channel>', '<@U123>', '<http://x|y>', '&', '&amp;', '<', '>', '\n', '\r\n', '\t', '\u202e', '\u200b', '\ud800', '\udc00', '🔥', 'é', '*', '_', '~', '\u0000') },
    { weight: 1, arbitrary: fc.nat({ max: 20_000 }).map((n) => 'x'.repeat(n)) },
    { weight: 1, arbitrary: fc.nat({ max: 3_000 }).map((n) => '&<'.repeat(n)) },
  );
  const str = fc.array(fragment, { maxLength: 6 }).map((a) => a.join(''));
  const severity = fc.constantFrom('critical', 'warning', 'info') as fc.Arbitrary<Finding['severity']>;
  const findingArb: fc.Arbitrary<Finding> = fc.record(
    { id: str, step: str, severity, title: str, detail: str, evidence: fc.array(str, { maxLength: 30 }) },
    { requiredKeys: ['id', 'step', 'severity', 'title', 'detail'] },
  );

  it('findings: every limit holds, nothing throws, cut evidence is returned in full', () => {
    fc.assert(
      fc.property(str, fc.array(findingArb, { maxLength: 80 }), (step, findings) => {
        const m: OutMessage = { kind: 'findings', step, findings };
        const r = renderBlocks(m);
        expectValid(r);
        const files = longEvidence(m);
        for (const f of files) {
          expect(f.filename).toMatch(/^[A-Za-z0-9][A-Za-z0-9._-]*\.txt$/);
          expect(f.title.length).toBeLessThanOrEqual(200);
        }
        expect(new Set(files.map((f) => f.filename)).size).toBe(files.length);
      }),
      { numRuns: 150 },
    );
  });

  it('progress, text and usage: every limit holds', () => {
    const step = fc.record({
      id: str,
      status: fc.constantFrom('running', 'ok', 'failed', 'skipped') as fc.Arbitrary<'running' | 'ok' | 'failed' | 'skipped'>,
      durationMs: fc.option(fc.double(), { nil: undefined }),
      error: fc.option(str, { nil: undefined }),
    });
    fc.assert(
      fc.property(str, fc.array(step, { maxLength: 200 }), str, (title, steps, text) => {
        expectValid(renderBlocks({ kind: 'progress', title, steps }));
        expectValid(renderBlocks({ kind: 'text', text }));
        expectValid(renderBlocks({ kind: 'usage', text }));
      }),
      { numRuns: 150 },
    );
  });

  it('diagnosis: every limit holds for arbitrary contents', () => {
    fc.assert(
      fc.property(
        fc.record({
          summary: str,
          confidence: fc.double(),
          rooted: fc.boolean(),
          chain: fc.array(str, { maxLength: 20 }),
          links: fc.array(fc.record({ from: str, to: str, verified: fc.boolean(), evidence: str }), { maxLength: 20 }),
          ruledOut: fc.array(fc.record({ id: str, reason: str }), { maxLength: 40 }),
          caveats: fc.array(str, { maxLength: 40 }),
          recommendations: fc.array(fc.record({ kind: fc.oneof(fc.constantFrom('stop-loss', 'fix', 'monitoring', 'next-check'), str), text: str }), { maxLength: 60 }),
          host: str,
          service: fc.option(str, { nil: undefined }),
          runbook: str,
          incidentId: fc.option(str, { nil: undefined }),
        }),
        (x) => {
          const rep = clone();
          rep.runbook = x.runbook;
          rep.target = { ...rep.target, host: x.host, service: x.service };
          rep.diagnosis = {
            ...rep.diagnosis,
            rootCause: x.rooted ? { id: 'db-pool-saturation', confidence: x.confidence, summary: x.summary } : null,
            chain: x.chain as Report['diagnosis']['chain'],
            links: x.links as Report['diagnosis']['links'],
            ruledOut: x.ruledOut as Report['diagnosis']['ruledOut'],
            caveats: x.caveats,
          };
          rep.recommendations = x.recommendations;
          expectValid(renderBlocks({ kind: 'diagnosis', report: rep, incidentId: x.incidentId }));
        },
      ),
      { numRuns: 150 },
    );
  });

  it('never throws on malformed data read from JSON', () => {
    const broken = { kind: 'diagnosis', report: { ...clone(), diagnosis: null } } as unknown as OutMessage;
    expectValid(renderBlocks(broken));
    const nulls = { kind: 'findings', step: null, findings: [{ id: null, severity: 'bogus', title: 42, detail: undefined, evidence: [null, 7] }] } as unknown as OutMessage;
    expectValid(renderBlocks(nulls));
    expect(() => longEvidence(nulls)).not.toThrow();
  });
});
