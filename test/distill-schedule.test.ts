import { describe, expect, it } from 'vitest';
import { learningRateAt, warmupSteps } from '../src/distill/schedule.js';

describe('learning-rate schedule', () => {
  const base = { peakLr: 1e-3, totalSteps: 100, warmup: 0.1 };
  it('warms up linearly to the peak', () => {
    expect(warmupSteps(base)).toBe(10);
    expect(learningRateAt(0, { ...base, decay: 'linear' })).toBeCloseTo(1e-4, 12);
    expect(learningRateAt(9, { ...base, decay: 'linear' })).toBeCloseTo(1e-3, 12);
  });
  it('decays linearly to zero at the last step', () => {
    expect(learningRateAt(10, { ...base, decay: 'linear' })).toBeCloseTo(1e-3, 12);
    expect(learningRateAt(55, { ...base, decay: 'linear' })).toBeCloseTo(0.5e-3, 12);
    expect(learningRateAt(100, { ...base, decay: 'linear' })).toBe(0);
  });
  it('decays along a half cosine', () => {
    expect(learningRateAt(55, { ...base, decay: 'cosine' })).toBeCloseTo(0.5e-3, 12);
    expect(learningRateAt(100, { ...base, decay: 'cosine' })).toBeCloseTo(0, 12);
    expect(learningRateAt(32.5, { ...base, decay: 'cosine' })).toBeCloseTo(1e-3 * 0.5 * (1 + Math.cos(Math.PI / 4)), 12);
  });
  it('takes an absolute warmup and a constant schedule', () => {
    expect(warmupSteps({ warmup: 5, totalSteps: 100 })).toBe(5);
    expect(learningRateAt(50, { ...base, warmup: 0, decay: 'constant' })).toBe(1e-3);
  });
});
