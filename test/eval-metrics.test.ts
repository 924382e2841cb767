import { describe, expect, it } from 'vitest';
import {
  accuracy,
  addToConfusion,
  agreementRate,
  argmaxRows,
  classMetrics,
  confusionAccuracy,
  confusionMatrix,
  confusionPairs,
  emptyConfusion,
  klDivergenceRows,
  macroF1,
  meanKlDivergence,
  softmaxRows,
  worstClasses,
} from '../src/eval/metrics.js';

// 8 examples, 3 classes. Worked by hand:
//   class 0: support 3, predicted 3, tp 2 -> P 2/3, R 2/3, F1 2/3
//   class 1: support 3, predicted 4, tp 2 -> P 1/2, R 2/3, F1 4/7
//   class 2: support 2, predicted 1, tp 1 -> P 1,   R 1/2, F1 2/3
const labels = [0, 0, 0, 1, 1, 1, 2, 2];
const preds = [0, 0, 1, 1, 1, 0, 2, 1];

describe('classification metrics', () => {
  it('accuracy skips unlabelled rows', () => {
    expect(accuracy(labels, preds)).toBeCloseTo(5 / 8, 12);
    expect(accuracy([1, -1, 0], [1, 0, 1])).toBe(0.5);
    expect(accuracy([], [])).toBe(0);
  });

  it('confusion matrix, per-class precision/recall/F1 and macro-F1', () => {
    const m = confusionMatrix(labels, preds, 3);
    expect([...m.counts]).toEqual([2, 1, 0, 1, 2, 0, 0, 1, 1]);
    expect(confusionAccuracy(m)).toBeCloseTo(5 / 8, 12);
    const c = classMetrics(m);
    expect(c.map((x) => [x.support, x.predicted, x.truePositives])).toEqual([
      [3, 3, 2],
      [3, 4, 2],
      [2, 1, 1],
    ]);
    expect(c[0]!.precision).toBeCloseTo(2 / 3, 12);
    expect(c[1]!.precision).toBeCloseTo(1 / 2, 12);
    expect(c[1]!.f1).toBeCloseTo(4 / 7, 12);
    expect(c[2]!.recall).toBeCloseTo(1 / 2, 12);
    expect(macroF1(m)).toBeCloseTo((2 / 3 + 4 / 7 + 2 / 3) / 3, 12);
  });

  it('macro-F1 averages only classes present in labels or predictions; empty ones score 0', () => {
    // Class 2 of 4 never occurs; class 3 is predicted but never true (precision 0, F1 0).
    const m = confusionMatrix([0, 0, 1, 1], [0, 0, 1, 3], 4);
    const c = classMetrics(m);
    expect(c[2]).toMatchObject({ support: 0, predicted: 0, precision: 0, recall: 0, f1: 0 });
    expect(c[3]).toMatchObject({ support: 0, predicted: 1, f1: 0 });
    expect(macroF1(m)).toBeCloseTo((1 + 2 / 3 + 0) / 3, 12);
  });

  it('accumulates chunk by chunk to the same matrix', () => {
    const m = emptyConfusion(3);
    addToConfusion(m, labels.slice(0, 3), preds.slice(0, 3));
    addToConfusion(m, labels.slice(3), preds.slice(3));
    expect([...m.counts]).toEqual([...confusionMatrix(labels, preds, 3).counts]);
    expect(() => addToConfusion(m, [5], [0])).toThrow(RangeError);
  });

  it('confusion pairs: most frequent off-diagonal cells first', () => {
    const m = confusionMatrix([0, 0, 0, 1, 1, 2], [1, 1, 2, 0, 1, 0], 3);
    expect(confusionPairs(m, 2)).toEqual([
      { trueIndex: 0, predictedIndex: 1, count: 2, rate: 2 / 3 },
      { trueIndex: 0, predictedIndex: 2, count: 1, rate: 1 / 3 },
    ]);
    expect(confusionPairs(m, 10)).toHaveLength(4);
  });

  it('worst classes by F1', () => {
    const worst = worstClasses(classMetrics(confusionMatrix(labels, preds, 3)), 2);
    expect(worst.map((c) => c.index)).toEqual([1, 0]);
  });
});

describe('teacher/student metrics', () => {
  it('argmax and softmax per row', () => {
    expect([...argmaxRows([0.1, 2, -1, 5, 5, 1], 3)]).toEqual([1, 0]);
    const p = softmaxRows([0, Math.log(3)], 2);
    expect(p[0]).toBeCloseTo(0.25, 12);
    expect(p[1]).toBeCloseTo(0.75, 12);
    const hot = softmaxRows([1000, 0], 2);
    expect(hot[0]).toBe(1);
  });

  it('KL(teacher || student) against the closed form', () => {
    // p = (0.25, 0.75), q = (0.5, 0.5): KL = 0.25 ln 0.5 + 0.75 ln 1.5
    const teacher = [0, Math.log(3)];
    const student = [1, 1];
    const expected = 0.25 * Math.log(0.5) + 0.75 * Math.log(1.5);
    expect(klDivergenceRows(teacher, student, 2)[0]).toBeCloseTo(expected, 12);
    // Same distribution (logits shifted by a constant) -> 0; averaged over rows.
    expect(meanKlDivergence([...teacher, 3, 4], [...student, 13, 14], 2)).toBeCloseTo(expected / 2, 12);
    // Not symmetric.
    expect(klDivergenceRows(student, teacher, 2)[0]).not.toBeCloseTo(expected, 6);
    // Extreme logits stay finite.
    expect(Number.isFinite(klDivergenceRows([1000, -1000], [-1000, 1000], 2)[0]!)).toBe(true);
  });

  it('agreement rate', () => {
    expect(agreementRate([0, 1, 2, 1], [0, 1, 1, 1])).toBe(0.75);
    expect(agreementRate([], [])).toBe(0);
  });
});
