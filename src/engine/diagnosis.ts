import type { Facts, SymptomKind } from '../core/facts.js';
import type { HypothesisId } from './report.js';
import type { StepOutcome } from './run.js';

/** A rule's verdict on the facts of one investigation. Evidence lines carry the numbers. */
export interface Verdict {
  status: 'supported' | 'refuted' | 'unknown';
  evidence: string[];
  /** Facts the rule would need but did not get (a failed or skipped step). */
  missing?: string[];
}

/** A link from a cause to an effect, checked against a measured fact. */
export interface EdgeCheck {
  verified: boolean;
  evidence: string;
}

/**
 * A hypothesis as a rule over typed facts: what supports it, what refutes it (`evaluate`), and
 * what it can cause (`causes`, hypotheses or symptom kinds), each edge backed by `edge` when a fact
 * shows the link.
 */
export interface HypothesisRule<T> {
  id: HypothesisId;
  /** Steps whose facts the rule reads; when they failed the verdict is weaker. */
  reads: readonly string[];
  causes: readonly (HypothesisId | SymptomKind)[];
  /**
   * Effects that feed back on an earlier cause (descriptors running out keep a pool from opening
   * connections). Shown as a link after the chain when both are in it and `edge` verifies it.
   */
  feedback?: readonly HypothesisId[];
  evaluate(facts: Facts, t: T): Verdict;
  edge?(to: HypothesisId | SymptomKind, facts: Facts, t: T): EdgeCheck;
  /** A paragraph an engineer can paste into the incident channel, when this is the root cause. */
  summary(facts: Facts, t: T): string;
  /** As a root cause this names an effect whose own cause is not measured: cap the confidence and say so. */
  incomplete?: string;
}

/** Highest confidence for a root cause that is itself an effect of something unmeasured. */
export const INCOMPLETE_ROOT_CONFIDENCE = 0.6;

export interface ChainLink {
  from: HypothesisId;
  to: HypothesisId | SymptomKind;
  verified: boolean;
  evidence: string;
  /** A measured link from an effect back to an earlier cause in the chain: a vicious circle. */
  feedback?: true;
}

export interface DiagnosisResult {
  rootCause: { id: HypothesisId; confidence: number; summary: string } | null;
  /** From the root cause to the observed symptom. */
  chain: (HypothesisId | SymptomKind)[];
  links: ChainLink[];
  hypotheses: { id: HypothesisId; status: Verdict['status']; evidence: string[] }[];
  /** Refuted alternatives, each with its reason. */
  ruledOut: { id: HypothesisId; reason: string }[];
  /** What would make the answer firmer: failed steps, unmeasured causes. */
  caveats: string[];
}

const FAILING: ReadonlySet<string> = new Set(['refused', 'connect-timeout', 'reset', 'empty-reply', 'read-timeout', 'http-error']);

/** Confidence lost per link of the chain that no measured fact backs. */
export const UNVERIFIED_LINK_PENALTY = 0.15;
/** Confidence lost per failed or skipped step that a supported or refuted rule reads. */
export const MISSING_STEP_PENALTY = 0.1;

/**
 * Ranks hypotheses into a root cause and a chain to the symptom. Pure. The root is the supported
 * hypothesis with no supported cause whose path through supported hypotheses to the observed
 * symptom is longest; rule order breaks ties.
 */
export function diagnose<T>(
  rules: readonly HypothesisRule<T>[],
  facts: Facts,
  steps: readonly StepOutcome[],
  t: T,
  fallback: { noFault: HypothesisId },
): DiagnosisResult {
  const symptom = facts.probe?.symptom;
  const verdicts = new Map(rules.map((r) => [r.id, r.evaluate(facts, t)]));
  const supported = new Set(rules.filter((r) => verdicts.get(r.id)?.status === 'supported').map((r) => r.id));
  const byId = new Map(rules.map((r) => [r.id, r]));
  const failedSteps = new Set(steps.filter((s) => s.status === 'failed' || (s.status === 'skipped' && !/not configured/.test(s.error ?? ''))).map((s) => s.id));

  const hypotheses = rules.map((r) => {
    const v = verdicts.get(r.id) as Verdict;
    return { id: r.id, status: v.status, evidence: [...v.evidence, ...(v.missing ?? []).map((m) => `not measured: ${m}`)] };
  });
  const ruledOut = rules
    .filter((r) => verdicts.get(r.id)?.status === 'refuted' && r.id !== fallback.noFault)
    .map((r) => ({ id: r.id, reason: verdicts.get(r.id)?.evidence[0] ?? 'refuted' }));

  // Paths run through supported hypotheses, and through unknown ones (facts missing) only on the
  // way to a supported one or the symptom: such a hop is kept, and its links end up unverified.
  const unknown = new Set(rules.filter((r) => verdicts.get(r.id)?.status === 'unknown').map((r) => r.id));
  type Path = (HypothesisId | SymptomKind)[];
  const paths = (id: HypothesisId, seen: ReadonlySet<HypothesisId>): Path[] => {
    const out: Path[] = [];
    const here = supported.has(id);
    let continued = false;
    for (const next of byId.get(id)?.causes ?? []) {
      if (symptom !== undefined && next === symptom) {
        out.push([id, next]);
        continued = true;
        continue;
      }
      const n = next as HypothesisId;
      if (seen.has(n) || !(supported.has(n) || unknown.has(n)) || n === fallback.noFault) continue;
      for (const sub of paths(n, new Set([...seen, n]))) {
        out.push([id, ...sub]);
        continued = true;
      }
    }
    if (!continued && here) out.push([id]);
    return out;
  };
  const score = (p: Path) => {
    const reaches = symptom !== undefined && p[p.length - 1] === symptom;
    const sup = p.filter((x) => supported.has(x as HypothesisId)).length;
    const unk = p.filter((x) => unknown.has(x as HypothesisId)).length;
    return (reaches ? 10_000 : 0) + sup * 100 - unk * 10;
  };

  // A supported hypothesis reachable from another supported one is an effect, not a root.
  const caused = new Set<HypothesisId>();
  for (const id of supported) for (const p of paths(id, new Set([id]))) for (const x of p.slice(1)) if (supported.has(x as HypothesisId)) caused.add(x as HypothesisId);
  const roots = rules.filter((r) => supported.has(r.id) && r.id !== fallback.noFault && !caused.has(r.id));
  let chain: Path = [];
  let root: HypothesisRule<T> | undefined;
  for (const r of roots) {
    for (const p of paths(r.id, new Set([r.id]))) {
      if (!root || score(p) > score(chain)) {
        root = r;
        chain = p;
      }
    }
  }

  const caveats: string[] = [];
  // A step skipped because nothing is configured for it (no Prometheus server) is no caveat.
  for (const s of steps) if (s.status === 'failed' || (s.status === 'skipped' && !/not configured/.test(s.error ?? ''))) caveats.push(`${s.id} ${s.status}: ${s.error ?? 'no reason given'}`);

  // Every probe was answered: a supported hypothesis whose chain reaches no observed failure is a
  // finding, not the cause of anything this run saw.
  if (root && symptom !== undefined && !FAILING.has(symptom) && supported.has(fallback.noFault) && chain[chain.length - 1] !== symptom) {
    caveats.push(`${root.id} is supported (${verdicts.get(root.id)?.evidence.join('; ') ?? ''}), but every probe was answered: nothing this run saw is its effect`);
    root = undefined;
    chain = [];
  }
  if (!root) {
    if (symptom !== undefined && !FAILING.has(symptom) && supported.has(fallback.noFault)) {
      const rule = byId.get(fallback.noFault);
      const penalty = rules.filter((r) => r.reads.some((s) => failedSteps.has(s))).length > 0 ? 0.2 : 0;
      return {
        rootCause: rule ? { id: rule.id, confidence: round(0.9 - penalty), summary: rule.summary(facts, t) } : null,
        chain: [],
        links: [],
        hypotheses,
        ruledOut,
        caveats,
      };
    }
    return { rootCause: null, chain: [], links: [], hypotheses, ruledOut, caveats: [...caveats, 'no hypothesis explains the symptom with the facts measured'] };
  }

  const links: ChainLink[] = [];
  for (let i = 0; i + 1 < chain.length; i++) {
    const from = chain[i] as HypothesisId;
    const to = chain[i + 1] as HypothesisId | SymptomKind;
    const check = byId.get(from)?.edge?.(to, facts, t) ?? { verified: false, evidence: 'no measured fact links them' };
    links.push({ from, to, ...check });
  }
  const unverified = links.filter((l) => !l.verified).length;
  for (let i = 1; i < chain.length; i++) {
    const from = chain[i] as HypothesisId;
    for (const back of byId.get(from)?.feedback ?? []) {
      const at = chain.indexOf(back);
      if (at < 0 || at >= i) continue;
      const check = byId.get(from)?.edge?.(back, facts, t);
      if (check?.verified) links.push({ from, to: back, ...check, feedback: true });
    }
  }
  const chainRules = chain.map((id) => byId.get(id as HypothesisId)).filter((r): r is HypothesisRule<T> => r !== undefined);
  const missingSteps = new Set(chainRules.flatMap((r) => r.reads.filter((s) => failedSteps.has(s))));
  // Alternatives that could explain the symptom but could not be ruled out, because their facts
  // are missing, also weaken the answer.
  const explains = (id: HypothesisId, seen = new Set<HypothesisId>()): boolean => {
    if (seen.has(id)) return false;
    seen.add(id);
    return (byId.get(id)?.causes ?? []).some((c) => c === symptom || (byId.has(c as HypothesisId) && explains(c as HypothesisId, seen)));
  };
  const unknownAlternatives = rules.filter(
    (r) => r.id !== root?.id && verdicts.get(r.id)?.status === 'unknown' && (verdicts.get(r.id)?.missing?.length ?? 0) > 0 && explains(r.id),
  ).length;
  // Every other step that did not run means less was checked: a smaller, visible cost.
  const otherMissing = [...failedSteps].filter((s) => !missingSteps.has(s)).length;
  let confidence = 0.95 - UNVERIFIED_LINK_PENALTY * unverified - MISSING_STEP_PENALTY * missingSteps.size - 0.05 * unknownAlternatives - 0.05 * otherMissing;
  if (symptom === undefined) confidence -= 0.1;
  if (chain[chain.length - 1] !== symptom) {
    confidence -= 0.2;
    caveats.push(`the chain does not reach the observed symptom (${symptom ?? 'not probed'})`);
  }
  for (const l of links) if (!l.verified) caveats.push(`unverified link ${l.from} → ${l.to}: ${l.evidence}`);
  if (root.incomplete) {
    confidence = Math.min(confidence, INCOMPLETE_ROOT_CONFIDENCE);
    caveats.push(root.incomplete);
  }
  return {
    rootCause: { id: root.id, confidence: round(Math.max(0.1, Math.min(0.95, confidence))), summary: root.summary(facts, t) },
    chain,
    links,
    hypotheses,
    ruledOut,
    caveats,
  };
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
