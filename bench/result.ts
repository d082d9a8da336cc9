/**
 * What every benchmark returns. Every figure is the median of `runs` runs; every comparison is a
 * ratio of two figures measured in the same run of `npm run bench`.
 */
export interface BenchResult {
  /** File name under bench/results/ (without .json), e.g. `single-instance`. */
  name: string;
  /** One line: what was measured. */
  title: string;
  /** The goal, in words, e.g. `>= 10x faster than one ssh per command`. */
  goal: string;
  /** Whether the goal was met in this run. */
  met: boolean;
  /** How many runs each median is over. */
  runs: number;
  /** The medians and ratios, with their unit in the key (`triageMs`, `baselineMs`, `ratio`, `peakRssMb`). */
  figures: Record<string, number>;
  /** The table cell: the figures that matter, e.g. `triage 180 ms vs ssh-per-command 2.4 s: 13.3x`. */
  summary: string;
  /** What an honest reader must know (a gap, what the baseline includes). */
  notes?: string[];
}

/** The median of a non-empty list of numbers. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new Error('median of nothing');
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** The q-quantile (0..1) of a non-empty list, nearest rank. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) throw new Error('quantile of nothing');
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}
