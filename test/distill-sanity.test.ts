import { describe, expect, it } from 'vitest';
import { accuracyWarnings, majorityBaseline } from '../src/distill/sanity.js';

const ex = (labels: number[]) => labels.map((label, i) => ({ ids: [1], typeIds: [0], label, line: i + 2 }));
const point = (step: number, accuracy: number) => ({ step, epoch: step / 10, accuracy, loss: 1 - accuracy });

describe('majority baseline and accuracy warnings', () => {
  it('is the share of the most frequent validation label (ties to the lower id)', () => {
    expect(majorityBaseline(ex([0, 1, 1, 2, 1, 0]), ['neg', 'pos', 'other'])).toEqual({ label: 'pos', accuracy: 0.5 });
    expect(majorityBaseline(ex([2, 1, 2, 1]), ['a', 'b', 'c'])).toEqual({ label: 'b', accuracy: 0.5 });
    expect(majorityBaseline(ex([]), ['a'])).toBeUndefined();
  });

  it('warns when the student is not clearly above the baseline', () => {
    const majority = { label: 'pos', accuracy: 0.51 };
    const evals = [point(0, 0.5), point(10, 0.52)];
    const [w] = accuracyWarnings({ accuracy: 0.52, majority, evals, selected: 'best' });
    expect(w).toMatch(/not clearly above the majority-class baseline \(51\.00 %, always "pos"\)/);
    expect(accuracyWarnings({ accuracy: 0.6, majority, evals: [point(0, 0.5), point(10, 0.6)], selected: 'best' })).toEqual([]);
  });

  it('warns when validation accuracy fell, naming where and what was written', () => {
    const evals = [point(0, 0.3), point(10, 0.8), point(20, 0.7), point(30, 0.75)];
    const warnings = accuracyWarnings({ accuracy: 0.75, evals, selected: 'last' });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toBe(
      'validation accuracy fell during training: 80.00 % at step 10, 70.00 % at step 20, 75.00 % at the end (step 30); wrote the last weights (use --select best to keep the best ones); a lower --lr or fewer epochs may help',
    );
    // Noise below half a point is not a fall.
    expect(accuracyWarnings({ accuracy: 0.8, evals: [point(0, 0.3), point(10, 0.8), point(20, 0.797)], selected: 'best' })).toEqual([]);
  });
});
