import { hostname } from 'node:os';
import type { Settings } from '../config.js';
import { asTriageError } from '../core/errors.js';
import type { Approval, Incident } from '../core/incident.js';
import { parseTarget } from '../core/target.js';
import { actionHash, describeAction, proposePlan, type ActionRequest } from '../engine/actions.js';
import { executorFor, resolveTarget } from '../engine/investigate.js';
import { runSteps } from '../engine/run.js';
import type { ChatAdapter } from '../integrations/chat/adapter.js';
import type { Net } from '../integrations/net/net.js';
import { event, type IncidentStore } from '../integrations/store/store.js';
import type { Logger } from '../log.js';
import { forensicsStep, renderSnapshot } from '../steps/forensics.js';
import { processStep } from '../steps/process.js';

const HOUR = 3600;
const restartsKey = (service: string) => `restarts:${service}`;
const failuresKey = (service: string) => `action-failures:${service}`;
/** Taken once, just before an approved action's command runs. */
const commandKey = (hash: string) => `action-command:${hash}`;
const COMMAND_MARK_TTL = 7 * 24 * HOUR;

export interface ActionDeps {
  settings: Settings;
  store: IncidentStore;
  chat: ChatAdapter;
  net: Net;
  log: Logger;
  now?: () => Date;
}

/**
 * After a diagnosis: propose the write-up's plan for the incident's instance — buttons under each
 * action, refusals with their reason. Nothing runs here.
 */
export async function proposeActions(inc: Incident, deps: ActionDeps): Promise<Approval[]> {
  const { settings, store, chat } = deps;
  const now = deps.now?.() ?? new Date();
  const root = inc.report?.diagnosis.rootCause?.id;
  if (!inc.thread || !root || root === 'no-fault-found') return [];
  const target = parseTarget(inc.target);
  const resolved = resolveTarget(target, settings, false);
  if (!resolved.service) return [];
  const svc = settings.config.services[resolved.service];
  if (!svc?.actions) return [];
  const plan = proposePlan({
    incidentId: inc.id,
    service: { name: resolved.service, config: svc },
    affected: [{ host: resolved.name, address: resolved.address, port: resolved.port, ...(inc.report?.target.pid ? { pid: inc.report.target.pid } : {}) }],
    safety: settings.config.safety,
    restartsThisHour: await store.getCounter(restartsKey(resolved.service)),
    failuresThisHour: await store.getCounter(failuresKey(resolved.service)),
  });
  const thread = inc.thread;
  for (const r of plan.refused) {
    await store.append(inc.id, event('action-refused', `${r.kind} on ${r.host} refused: ${r.reason}`, now, { kind: r.kind, host: r.host, reason: r.reason }));
    await chat.post(thread.channel, { kind: 'text', text: `Not proposing ${r.kind} on ${r.host}: ${r.reason}` }, thread.ts);
  }
  const requestedBy = inc.trigger.kind === 'mention' || inc.trigger.kind === 'slash' ? inc.trigger.user : inc.trigger.kind;
  const out: Approval[] = [];
  for (const a of plan.actions) {
    const approval: Approval = {
      hash: actionHash(a),
      incidentId: inc.id,
      action: { kind: a.kind, service: a.service, host: a.host, address: a.address, port: a.port, argv: a.argv },
      requestedBy,
      requestedAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + settings.config.approvals.ttlMinutes * 60_000).toISOString(),
      status: 'pending',
    };
    const blastRadius = `1 of ${svc.instances.length} instances of ${a.service}`;
    const msg = await chat.post(thread.channel, { kind: 'approval', approval, blastRadius, state: 'open' }, thread.ts);
    approval.message = { channel: msg.channel, ts: msg.ts };
    await store.putApproval(approval);
    await store.append(inc.id, event('approval-requested', `approval asked: ${describeAction(a)}`, now, { kind: a.kind, host: a.host, port: a.port, argv: a.argv, hash: approval.hash }));
    out.push(approval);
  }
  return out;
}

export interface Click {
  hash: string;
  user: string;
  approve: boolean;
  channel: string;
  messageTs: string;
}

/**
 * A click on Approve or Deny. Refused unless the click is on the approval's own message, by a
 * configured approver, not the requester under the two-person rule, before expiry; decided once
 * (a double click or a redelivered click changes nothing). Returns the job to run, if any.
 */
export async function decide(click: Click, deps: ActionDeps): Promise<{ run: boolean; reply: string }> {
  const { store, chat, settings } = deps;
  const now = deps.now?.() ?? new Date();
  const a = await store.getApproval(click.hash);
  if (!a) return { run: false, reply: 'This approval is unknown or too old.' };
  const audit = (type: 'approval-refused' | 'approval-expired' | 'approval-given' | 'approval-denied', message: string) =>
    store.append(a.incidentId, event(type, message, now, { by: click.user, kind: a.action.kind, host: a.action.host, port: a.action.port, hash: a.hash }));
  const refuse = async (reason: string) => {
    await audit('approval-refused', `${click.user} refused: ${reason}`);
    return { run: false, reply: `Not done: ${reason}.` };
  };
  if (!a.message || a.message.channel !== click.channel || a.message.ts !== click.messageTs) return refuse('the click is not on this approval\'s message');
  const cfg = settings.config.approvals;
  const inGroup = async () => {
    for (const g of cfg.approverGroups) if (await chat.isMember?.(click.user, g).catch(() => false)) return true;
    return false;
  };
  if (!cfg.approvers.includes(click.user) && !(await inGroup())) return refuse('you are not an approver (approvals.approvers, approvals.approverGroups)');
  if (click.approve && cfg.twoPersonRule && click.user === a.requestedBy) return refuse('two-person rule: the requester may not approve their own request');
  const blastRadius = `1 of ${settings.config.services[a.action.service]?.instances.length ?? '?'} instances of ${a.action.service}`;
  if (now.getTime() > Date.parse(a.expiresAt)) {
    const expired = await store.transitionApproval(a.hash, 'pending', 'expired', { decidedAt: now.toISOString() });
    if (expired) {
      await audit('approval-expired', `approval of ${a.action.kind} on ${a.action.host} expired at ${a.expiresAt}`);
      if (a.message) await chat.update(a.message, { kind: 'approval', approval: expired, blastRadius, state: 'decided' }).catch((err: Error) => deps.log.warn({ err: err.message }, 'could not mark the approval expired'));
    }
    return { run: false, reply: `Not done: this approval expired at ${a.expiresAt}.` };
  }
  const decided = await store.transitionApproval(a.hash, 'pending', click.approve ? 'approved' : 'denied', { decidedBy: click.user, decidedAt: now.toISOString() });
  if (!decided) {
    const cur = await store.getApproval(a.hash);
    return { run: false, reply: `Already decided: ${cur?.status}${cur?.decidedBy ? ` by ${cur.decidedBy}` : ''}.` };
  }
  await audit(click.approve ? 'approval-given' : 'approval-denied', `${click.user} ${click.approve ? 'approved' : 'denied'} ${a.action.kind} on ${a.action.host}:${a.action.port}`);
  // The decision stands even if Slack cannot show it right now.
  if (a.message) await chat.update(a.message, { kind: 'approval', approval: { ...decided, ...(click.approve ? { outcome: 'running…' } : {}) }, blastRadius, state: 'decided' }).catch((err: Error) => deps.log.warn({ err: err.message }, 'could not update the approval message'));
  return { run: click.approve, reply: click.approve ? 'Approved: running it now.' : 'Denied.' };
}

/** Marks approvals past their expiry as expired, in the store, the timeline and the message (the buttons go). */
export async function expireApprovals(deps: ActionDeps): Promise<number> {
  const now = deps.now?.() ?? new Date();
  let n = 0;
  for (const a of await deps.store.pendingApprovals()) {
    if (Date.parse(a.expiresAt) > now.getTime()) continue;
    const expired = await deps.store.transitionApproval(a.hash, 'pending', 'expired', { decidedAt: now.toISOString() });
    if (!expired) continue;
    n++;
    await deps.store.append(a.incidentId, event('approval-expired', `approval of ${a.action.kind} on ${a.action.host} expired at ${a.expiresAt}`, now, { kind: a.action.kind, host: a.action.host, port: a.action.port, hash: a.hash }));
    const blastRadius = `1 of ${deps.settings.config.services[a.action.service]?.instances.length ?? '?'} instances of ${a.action.service}`;
    if (a.message) await deps.chat.update(a.message, { kind: 'approval', approval: expired, blastRadius, state: 'decided' }).catch((err: Error) => deps.log.warn({ err: err.message }, 'could not mark the approval expired'));
  }
  return n;
}

/**
 * Runs an approved action once: a forensic snapshot before a restart (attached to the thread),
 * the command, then recovery verification. Every step is in the incident's timeline.
 */
export async function runApproved(hash: string, deps: ActionDeps): Promise<void> {
  const { store, chat, settings, log } = deps;
  const now = () => deps.now?.() ?? new Date();
  // approved → running happens once. The job id is the approval's hash, so a job that finds its
  // approval already running is one redelivered after its worker died (BullMQ is at-least-once).
  let a = await store.transitionApproval(hash, 'approved', 'running');
  let commandClaimed = false;
  if (!a) {
    const cur = await store.getApproval(hash);
    if (cur?.status !== 'running') return log.info({ hash, status: cur?.status }, 'action not in state approved: not run (again)');
    // The marker is taken just before the command runs: free means the worker died before it.
    if (!(await store.claimOnce(commandKey(hash), COMMAND_MARK_TTL))) return interrupted(cur, deps);
    commandClaimed = true;
    a = cur;
    log.info({ hash, worker: `${hostname()}/${process.pid}` }, 'the worker running this action died before its command: running it here');
  }
  const inc = await store.get(a.incidentId);
  const thread = inc?.thread;
  const say = async (text: string) => {
    if (thread) await chat.post(thread.channel, { kind: 'text', text }, thread.ts).catch(() => undefined);
  };
  const blastRadius = `1 of ${settings.config.services[a.action.service]?.instances.length ?? '?'} instances of ${a.action.service}`;
  const finish = async (status: 'done' | 'failed', outcome: string) => {
    const fin = await store.transitionApproval(hash, 'running', status, { outcome });
    if (fin?.message) await chat.update(fin.message, { kind: 'approval', approval: fin, blastRadius, state: 'decided' }).catch(() => undefined);
  };
  const failures = failuresKey(a.action.service);
  if (a.action.kind === 'restart') {
    const used = await store.getCounter(restartsKey(a.action.service));
    if (used >= settings.config.safety.restartsPerHour) {
      const reason = `restart budget of ${settings.config.safety.restartsPerHour} per hour for ${a.action.service} is used up`;
      await store.append(a.incidentId, event('action-refused', reason, now(), { kind: a.action.kind, host: a.action.host }));
      await say(`Not restarting ${a.action.host}: ${reason}.`);
      return finish('failed', reason);
    }
  }
  if ((await store.getCounter(failures)) >= settings.config.safety.breakerFailures) {
    const reason = `circuit breaker open for ${a.action.service}`;
    await store.append(a.incidentId, event('action-refused', reason, now(), { kind: a.action.kind, host: a.action.host }));
    await say(`Not running ${a.action.kind}: ${reason}.`);
    return finish('failed', reason);
  }
  const resolved = resolveTarget({ host: a.action.host, port: a.action.port }, settings, false);
  const exec = executorFor(resolved, settings, (m) => log.warn(m));
  try {
    if (a.action.kind === 'restart') {
      // Keep the scene: a restart destroys the evidence.
      const snap = await runSteps(
        {
          steps: [processStep, forensicsStep],
          samples: 1,
          intervalMs: 0,
          stepTimeoutMs: settings.config.investigation.stepTimeoutMs,
          commandTimeoutMs: settings.config.ssh.commandTimeoutMs,
          buildInput: (_s, f) => ({ port: a.action.port, pid: f.process?.pid, logTailLines: settings.config.investigation.logTailLines }),
        },
        { exec, net: deps.net },
      );
      const forensics = snap.facts.forensics;
      if (forensics) {
        const file = renderSnapshot(forensics);
        await store.putArtifact(a.incidentId, file.filename, file.content);
        await store.append(a.incidentId, event('snapshot-taken', `forensic snapshot of PID ${forensics.pid}: ${file.filename}`, now(), { file: file.filename, sections: forensics.sections.length }));
        if (thread) await chat.upload({ channel: thread.channel, ts: thread.ts }, { filename: file.filename, title: `Evidence before restart (PID ${forensics.pid})`, content: file.content }).catch((err: Error) => log.warn({ err: err.message }, 'snapshot upload failed'));
      } else {
        await store.append(a.incidentId, event('snapshot-taken', `no snapshot: ${snap.steps.map((s) => s.error).filter(Boolean).join('; ') || 'process not found'}`, now(), { ok: false }));
      }
    }
    if (!commandClaimed && !(await store.claimOnce(commandKey(hash), COMMAND_MARK_TTL))) return await interrupted(a, deps);
    await store.append(a.incidentId, event('action-started', `${a.action.kind} on ${a.action.host}:${a.action.port}`, now(), { by: a.decidedBy, kind: a.action.kind, host: a.action.host, port: a.action.port, argv: a.action.argv }));
    const res = await exec.run(a.action.argv, { timeoutMs: 60_000 });
    await store.append(a.incidentId, event('action-finished', `${a.action.kind} exited ${res.exitCode}`, now(), { kind: a.action.kind, exitCode: res.exitCode, durationMs: Math.round(res.durationMs) }));
    if (res.exitCode !== 0) {
      await store.bumpCounter(failures, HOUR);
      const why = `${a.action.kind} failed (exit ${res.exitCode}): ${res.stderr.trim().split('\n').pop() ?? ''}`.trim();
      await say(`${why}. The incident is not mitigated.`);
      return finish('failed', why);
    }
    if (a.action.kind === 'restart') await store.bumpCounter(restartsKey(a.action.service), HOUR);
    if (a.action.kind !== 'restart') {
      await say(`${a.action.kind} on ${a.action.host}:${a.action.port} done (exit 0).`);
      return finish('done', 'exit 0');
    }
    const recovered = await verifyRecovery(resolved.address, a.action.port, deps);
    await store.append(a.incidentId, event('recovery-verified', recovered.ok ? `recovered: ${recovered.detail}` : `not recovered: ${recovered.detail}`, now(), { ok: recovered.ok }));
    if (recovered.ok) {
      await store.update(a.incidentId, { status: 'mitigated' }, event('mitigated', `${a.action.host}:${a.action.port} answers again after the restart`, now(), { by: a.decidedBy }));
      await say(`Restarted ${a.action.host}:${a.action.port}; recovery verified: ${recovered.detail}. The incident is mitigated — the fix is still needed (see the recommendations).`);
      return finish('done', `exit 0, recovered`);
    }
    await store.bumpCounter(failures, HOUR);
    await say(`Restarted ${a.action.host}:${a.action.port}, but it has not recovered: ${recovered.detail}. The incident is not mitigated.`);
    return finish('failed', `exit 0, not recovered: ${recovered.detail}`);
  } catch (err) {
    const e = asTriageError(err);
    await store.bumpCounter(failures, HOUR);
    await store.append(a.incidentId, event('action-finished', `${a.action.kind} could not run: ${e.message}`, now(), { kind: a.action.kind, error: e.message }));
    await say(`${a.action.kind} could not run: ${e.message}. The incident is not mitigated.`);
    return finish('failed', e.message);
  } finally {
    await exec.close();
  }
}

/**
 * A redelivered action whose command may have run (its worker died after taking the marker): it is
 * not run again — a human looks at the instance. Recorded in the timeline, the thread and the approval.
 */
async function interrupted(a: Approval, deps: ActionDeps): Promise<void> {
  const { store, chat, settings } = deps;
  const now = deps.now?.() ?? new Date();
  const why = `${a.action.kind} state unknown after a worker died mid-action; not re-run`;
  const fin = await store.transitionApproval(a.hash, 'running', 'failed', { outcome: why });
  if (!fin) return;
  await store.bumpCounter(failuresKey(a.action.service), HOUR);
  await store.append(a.incidentId, event('action-finished', `${why}: check ${a.action.host}:${a.action.port} before approving again`, now, { kind: a.action.kind, host: a.action.host, outcome: 'unknown', interrupted: true }));
  const inc = await store.get(a.incidentId);
  const blastRadius = `1 of ${settings.config.services[a.action.service]?.instances.length ?? '?'} instances of ${a.action.service}`;
  if (inc?.thread) await chat.post(inc.thread.channel, { kind: 'text', text: `The worker running ${a.action.kind} on ${a.action.host}:${a.action.port} died while the command ran: its outcome is unknown, and it is not run again. Check the instance; the incident is not mitigated.` }, inc.thread.ts).catch(() => undefined);
  if (fin.message) await chat.update(fin.message, { kind: 'approval', approval: fin, blastRadius, state: 'decided' }).catch(() => undefined);
}

/** Probes in rounds until a whole round answers, or the time-out. */
export async function verifyRecovery(address: string, port: number, deps: Pick<ActionDeps, 'settings' | 'net'>): Promise<{ ok: boolean; detail: string }> {
  const r = deps.settings.config.recovery;
  const path = deps.settings.config.investigation.probePath;
  const deadline = Date.now() + r.timeoutMs;
  let last = 'no probe yet';
  for (let round = 1; Date.now() < deadline; round++) {
    const attempts = await Promise.all(Array.from({ length: r.probes }, () => deps.net.probe(address, port, path, Math.min(3000, r.timeoutMs))));
    const ok = attempts.filter((x) => x.outcome === 'ok').length;
    last = attempts.map((x) => x.outcome).join(', ');
    if (ok === attempts.length) return { ok: true, detail: `${ok}/${attempts.length} probes answered (round ${round})` };
    await new Promise((res) => setTimeout(res, r.intervalMs));
  }
  return { ok: false, detail: `last round: ${last}` };
}

export type { ActionRequest };
