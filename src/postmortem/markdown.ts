/**
 * Markdown rendering of a drafted postmortem. Pure. Strings arrive redacted (see `draftPostmortem`);
 * here they are only made safe for their place: one line for prose and list items, `|` and `\`
 * escaped in table cells, code fences longer than any backtick run they contain.
 */
import type { Postmortem } from './index.js';

/** One line: newlines (and the other line separators) become spaces. */
export function oneLine(s: unknown): string {
  return String(s ?? '')
    .replace(/\r\n|[\r\n\u0085\u2028\u2029]/g, ' ')
    .replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, ' ');
}

/** A GFM table cell: one line, backslashes and pipes escaped, never empty. */
export function cell(s: unknown): string {
  const t = oneLine(s).replace(/\\/g, '\\\\').replace(/\|/g, '\\|').trim();
  return t === '' ? ' ' : t;
}

/** An inline code span that survives backticks in its content. */
export function code(s: unknown): string {
  const t = oneLine(s);
  const longest = Math.max(0, ...(t.match(/`+/g) ?? []).map((r) => r.length));
  const fence = '`'.repeat(longest + 1);
  const pad = t.startsWith('`') || t.endsWith('`') || t === '' ? ' ' : '';
  return `${fence}${pad}${t}${pad}${fence}`;
}

/** A fenced code block that survives fences in its lines. */
export function codeBlock(lines: readonly string[]): string {
  const body = lines.map((l) => oneLine(l));
  const longest = Math.max(0, ...body.flatMap((l) => (l.match(/`+/g) ?? []).map((r) => r.length)));
  const fence = '`'.repeat(Math.max(3, longest + 1));
  return `${fence}text\n${body.join('\n')}\n${fence}`;
}

function table(head: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.map(cell).join(' | ')} |`;
  return [line(head), `|${head.map(() => '---').join('|')}|`, ...rows.map(line)].join('\n');
}

const bullets = (items: readonly string[]) => items.map((i) => `- ${oneLine(i)}`).join('\n');

function hhmmss(iso: string | null): string {
  if (!iso) return '?';
  const t = Date.parse(iso);
  return Number.isFinite(t) ? new Date(t).toISOString().slice(11, 19) : '?';
}

function ms(n: number | null): string {
  if (n === null) return '?';
  return n < 1000 ? `${Math.round(n)} ms` : `${(n / 1000).toFixed(1)} s`;
}

/** Renders the sections in the write-up's order. */
export function renderMarkdown(pm: Postmortem): string {
  const out: string[] = [];
  const push = (...s: string[]) => out.push(...s);

  push(`# ${oneLine(pm.title)}`, '');
  push(`Incident ${code(pm.incidentId)} · runbook ${code(pm.runbook || '?')} · status ${oneLine(pm.status)} · drafted by triage at ${oneLine(pm.generatedAt)}`, '');

  push('## Summary', '', oneLine(pm.summary), '');

  // ---- Impact
  const im = pm.impact;
  push('## Impact', '');
  const from = im.startedFrom === 'alert' ? 'the first alert' : 'the incident opening';
  const span = !im.startedAt
    ? ''
    : im.ongoing
      ? `, since ${hhmmss(im.startedAt)} UTC (${from})`
      : ` (${hhmmss(im.startedAt)} → ${hhmmss(im.endedAt)} UTC, from ${from} to ${im.endedBy === 'resolved' ? 'resolution' : im.endedBy === 'recovery-verified' ? 'verified recovery' : 'mitigation'})`;
  const impactLines = [
    `**Duration:** ${im.duration}${span}`,
    `**Instances affected:** ${im.targets.length ? im.targets.map(code).join(', ') : 'unknown'}`,
    im.symptom ? `**Symptom:** ${im.symptom.text} — ${im.symptom.line}` : `**Symptom:** unknown${im.note ? ` (${im.note})` : ''}`,
  ];
  push(bullets(impactLines), '');

  // ---- Detection
  const de = pm.detection;
  push('## Detection', '', oneLine(de.text), '');
  if (de.alerts.length) {
    push('Alerts in this incident:', '');
    push(bullets(de.alerts.map((a) => `${oneLine(a.alertname)} — ${oneLine(a.status) || '?'} since ${hhmmss(a.startsAt)} UTC${a.labels ? ` (${oneLine(a.labels)})` : ''}`)), '');
  }

  // ---- Timeline
  push('## Timeline', '');
  if (pm.timeline.length) {
    push(
      table(
        ['Time (UTC)', 'Event', 'Details'],
        pm.timeline.map((e) => [e.time, e.label, `${e.message}${e.by ? ` (by ${e.by})` : ''}`]),
      ),
    );
    if (pm.timelineOmitted) push('', `… ${pm.timelineOmitted} later events omitted.`);
  } else {
    push('No timeline events were recorded.');
  }
  push('');

  // ---- Investigation
  const inv = pm.investigation;
  push('## Investigation', '');
  if (inv.failed || !inv.ran || (inv.findings.length === 0 && inv.steps.length === 0)) {
    if (inv.failed) push(`The investigation failed: ${inv.error ? code(inv.error) : 'no reason was recorded'}. No findings were measured.`);
    else if (!inv.ran) push('The investigation has not run yet; there are no findings.');
    else push('The investigation produced no findings.');
    push('');
  } else {
    if (inv.startedAt) push(`Ran ${hhmmss(inv.startedAt)} → ${hhmmss(inv.finishedAt)} UTC (${ms(inv.durationMs)}).`, '');
    if (inv.steps.length) push(`Steps: ${inv.steps.map((s) => `${oneLine(s.id)} ${oneLine(s.status)}`).join(', ')}.`);
    push('');
    inv.findings.forEach((f, i) => {
      push(`### ${i + 1}. [${oneLine(f.severity)}] ${oneLine(f.title)}`, '');
      if (f.detail) push(`${oneLine(f.detail)} _(step ${oneLine(f.step)})_`, '');
      if (f.evidence.length) {
        push(codeBlock(f.evidence));
        if (f.evidenceOmitted) push(`… ${f.evidenceOmitted} more evidence lines.`);
        push('');
      }
    });
    if (inv.findingsOmitted) push(`… ${inv.findingsOmitted} more findings omitted.`, '');
    const bad = inv.steps.filter((s) => s.status !== 'ok');
    if (bad.length) push('Steps that did not run fully:', '', bullets(bad.map((s) => `${s.id} ${s.status}${s.error ? `: ${s.error}` : ''}`)), '');
    if (inv.warnings.length) push('Warnings:', '', bullets(inv.warnings), '');
  }

  // ---- Root cause
  push('## Root cause', '');
  const rc = pm.rootCause;
  if (!rc) {
    push(oneLine(pm.rootCauseNote ?? 'Not determined.'), '');
  } else {
    push(`**${oneLine(rc.name)}** (${code(rc.id)}${rc.confidence !== null ? `, confidence ${Math.round(rc.confidence * 100)}%` : ''})`, '');
    if (rc.summary) push(oneLine(rc.summary), '');
    if (rc.chain.length) {
      push(`**Causal chain:** ${rc.chain.map(oneLine).join(' → ')}`, '');
      if (rc.links.length) push(rc.links.map((l, i) => `${i + 1}. ${oneLine(l.from)} → ${oneLine(l.to)}${l.feedback ? ' (feeds back)' : ''} — **${l.verified ? 'verified' : 'unverified'}**: ${oneLine(l.evidence)}`).join('\n'), '');
    }
    push('**Ruled out:**', '', rc.ruledOut.length ? bullets(rc.ruledOut.map((r) => `${r.id}: ${r.reason}`)) : 'Nothing was ruled out.', '');
    if (rc.notRuledOut.length) push('**Not ruled out (facts missing):**', '', bullets(rc.notRuledOut.map((r) => `${r.id}${r.evidence ? `: ${r.evidence}` : ''}`)), '');
    push('**Caveats:**', '', rc.caveats.length ? bullets(rc.caveats) : 'None.', '');
  }

  // ---- Stop-loss and resolution
  const sl = pm.stopLoss;
  push('## Stop-loss and resolution', '');
  if (!sl.actionTaken) {
    push('No action was taken by triage.', '');
    if (sl.approvals.length) push(bullets(sl.approvals.map((a) => `${hhmmss(a.at)} approval ${a.decision}${a.action ? ` for ${a.action}` : ''}${a.target ? ` on ${a.target}` : ''}${a.by ? ` by ${a.by}` : ''}: ${a.message}`)), '');
    if (sl.recommendation.length) push('Recommended stop-loss:', '', bullets(sl.recommendation), '');
  } else {
    push(oneLine(sl.text), '');
    const rows: string[] = [];
    for (const a of sl.approvals) rows.push(`${hhmmss(a.at)} — approval ${a.decision}${a.action ? ` for ${a.action}` : ''}${a.target ? ` on ${a.target}` : ''}${a.by ? ` by **${a.by}**` : ''}: ${a.message}`);
    for (const s of sl.snapshots) rows.push(`${hhmmss(s.at)} — snapshot (scene kept): ${s.message}`);
    for (const a of sl.actions) {
      const extra = [a.command ? `command ${code(a.command)}` : '', a.exitCode !== null ? `exit code ${a.exitCode}` : '', a.durationMs !== null ? ms(a.durationMs) : '', a.by ? `by ${a.by}` : ''].filter(Boolean).join(', ');
      rows.push(`${hhmmss(a.at)} — ${a.action ?? 'action'} ${a.phase}${a.target ? ` on ${a.target}` : ''}: ${a.message}${extra ? ` (${extra})` : ''}`);
    }
    // Chronological: the times are zero-padded, so a string sort is a time sort.
    rows.sort((x, y) => x.slice(0, 8).localeCompare(y.slice(0, 8)));
    if (rows.length) push(bullets(rows), '');
    const r = sl.recovery;
    push(`**Recovery:** ${r.verified === true ? `verified at ${hhmmss(r.at)} UTC` : r.verified === false ? `NOT verified (${hhmmss(r.at)} UTC)` : 'not checked by triage'}${r.message ? ` — ${oneLine(r.message)}` : ''}`, '');
    if (sl.mitigatedAt) push(`**Mitigated:** ${hhmmss(sl.mitigatedAt)} UTC`, '');
  }

  // ---- Reproduction
  push('## Reproduction', '', oneLine(pm.reproduction.text), '');

  // ---- Fix
  push('## Fix', '');
  push(pm.fix.length ? pm.fix.map((f) => `- [ ] ${oneLine(f)}`).join('\n') : rc ? 'No fix was recommended for this root cause; see the action items.' : 'No fix can be recommended without a root cause.', '');

  // ---- Action items
  push('## Action items', '');
  if (pm.actionItems.length) {
    for (const g of pm.actionItems) {
      push(`**${oneLine(g.title)}**`, '', g.items.map((i) => `- [${i.done ? 'x' : ' '}] ${oneLine(i.text)}`).join('\n'), '');
    }
  } else {
    push('None.', '');
  }

  // ---- Lessons
  push('## Lessons', '', pm.lessons.length ? bullets(pm.lessons) : 'None recorded.', '');

  if (pm.problems.length) push('---', '', '_Parts of this draft could not be built from the data:_', '', bullets(pm.problems), '');

  return `${out.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd()}\n`;
}
