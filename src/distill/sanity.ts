/**
 * Checks a finished run against the simplest baselines, so a student that learned nothing (or
 * got worse) is said so plainly instead of being reported as a result.
 */
import type { EncodedExample } from '../data/encode.js';
import type { EvalPoint } from './checkpoint.js';

export interface MajorityBaseline {
  /** The most frequent label of the validation set. */
  label: string;
  /** Accuracy of always predicting it, in [0, 1]. */
  accuracy: number;
}

/** A student this close to the majority baseline (2 points) has not clearly learned the task. */
export const clearMargin = 0.02;
/** A drop of validation accuracy larger than this (half a point) is reported. */
export const fallTolerance = 0.005;

export function majorityBaseline(examples: readonly EncodedExample[], labelNames: readonly string[]): MajorityBaseline | undefined {
  const counts = new Map<number, number>();
  for (const e of examples) if (e.label >= 0) counts.set(e.label, (counts.get(e.label) ?? 0) + 1);
  if (!counts.size) return undefined;
  // Ties go to the lower label id (deterministic).
  const [label, count] = [...counts].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0]!;
  return { label: labelNames[label] ?? String(label), accuracy: count / examples.length };
}

/** Plain-language warnings about the student's validation accuracy. */
export function accuracyWarnings(r: { accuracy?: number; majority?: MajorityBaseline; evals: readonly EvalPoint[]; selected: 'best' | 'last' }): string[] {
  const out: string[] = [];
  const pct = (x: number) => `${(x * 100).toFixed(2)} %`;
  if (r.accuracy !== undefined && r.majority && r.accuracy < r.majority.accuracy + clearMargin) {
    out.push(
      `the student's validation accuracy (${pct(r.accuracy)}) is not clearly above the majority-class baseline ` +
        `(${pct(r.majority.accuracy)}, always "${r.majority.label}"): it has not learned the task; try more epochs, a higher --lr, or --loss ce to compare`,
    );
  }
  let best: EvalPoint | undefined;
  let worstFall: { from: EvalPoint; to: EvalPoint } | undefined;
  for (const e of r.evals) {
    if (best && best.accuracy - e.accuracy > fallTolerance && (!worstFall || worstFall.from.accuracy - worstFall.to.accuracy < best.accuracy - e.accuracy)) {
      worstFall = { from: best, to: e };
    }
    if (!best || e.accuracy > best.accuracy) best = e;
  }
  if (worstFall) {
    const last = r.evals.at(-1)!;
    out.push(
      `validation accuracy fell during training: ${pct(worstFall.from.accuracy)} at step ${worstFall.from.step}, ${pct(worstFall.to.accuracy)} at step ${worstFall.to.step}` +
        (last !== worstFall.to ? `, ${pct(last.accuracy)} at the end (step ${last.step})` : '') +
        `; wrote the ${r.selected} weights` +
        (r.selected === 'last' ? ' (use --select best to keep the best ones)' : '') +
        '; a lower --lr or fewer epochs may help',
    );
  }
  return out;
}
