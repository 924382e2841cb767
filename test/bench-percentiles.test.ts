import { describe, expect, it } from 'vitest';
import { noiseReason, percentile, percentileOfSorted, summarize } from '../src/bench/percentiles.js';

// Expected values are numpy.percentile's (method='linear', its default).
describe('percentiles', () => {
  it('interpolates linearly between ranks like numpy', () => {
    const x = [15, 20, 35, 40, 50];
    const expected: Array<[number, number]> = [[0, 15], [25, 20], [40, 29], [50, 35], [90, 46], [99, 49.6], [100, 50]];
    for (const [q, v] of expected) expect(percentile(x, q)).toBeCloseTo(v, 10);
    const y = [3, 1, 4, 1, 5, 9, 2, 6];
    const expectedY: Array<[number, number]> = [[10, 1], [50, 3.5], [75, 5.25], [90, 6.9], [99, 8.79]];
    for (const [q, v] of expectedY) expect(percentile(y, q)).toBeCloseTo(v, 10);
  });

  it('handles one sample, none, and bad q; leaves the input unsorted', () => {
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
    expect(() => percentileOfSorted([1, 2], 101)).toThrow(RangeError);
    const samples = [3, 1, 2];
    percentile(samples, 50);
    expect(samples).toEqual([3, 1, 2]);
  });

  it('summarizes samples and flags noise', () => {
    const s = summarize([4, 1, 3, 2, 5]);
    expect(s).toMatchObject({ count: 5, min: 1, max: 5, mean: 3, p25: 2, p50: 3, p75: 4, iqr: 2 });
    expect(s.stddev).toBeCloseTo(Math.sqrt(2.5), 12);
    expect(s.relativeIqr).toBeCloseTo(2 / 3, 12);
    const steady = summarize(Array.from({ length: 100 }, (_, i) => 10 + (i % 5) * 0.01));
    expect(noiseReason(steady)).toBeUndefined();
    expect(noiseReason(summarize(Array.from({ length: 100 }, (_, i) => 10 + (i % 2) * 5)))).toMatch(/IQR is \d+% of the median/);
    expect(noiseReason(summarize([1, 1, 1]))).toMatch(/only 3 timed iterations/);
  });
});
