/**
 * Percentiles and summary statistics of latency samples. Percentiles interpolate linearly
 * between the two nearest ranks, like numpy's default (`method='linear'`): the q-th percentile
 * of n sorted samples sits at fractional index q/100 * (n - 1).
 */

/** The q-th percentile (0..100) of samples already sorted ascending. NaN for no samples. */
export function percentileOfSorted(sorted: ArrayLike<number>, q: number): number {
  if (!(q >= 0 && q <= 100)) throw new RangeError(`percentile must be in [0, 100], got ${q}`);
  const n = sorted.length;
  if (n === 0) return NaN;
  const index = (q / 100) * (n - 1);
  const lo = Math.floor(index);
  const hi = Math.min(lo + 1, n - 1);
  const a = sorted[lo]!;
  return a + (sorted[hi]! - a) * (index - lo);
}

/** The q-th percentile of unsorted samples (copies, does not reorder the input). */
export function percentile(samples: ArrayLike<number>, q: number): number {
  return percentileOfSorted(Float64Array.from(samples).sort(), q);
}

export interface LatencyStats {
  /** Samples summarised (timed iterations). */
  count: number;
  min: number;
  max: number;
  mean: number;
  /** Sample standard deviation (n - 1). */
  stddev: number;
  p25: number;
  p50: number;
  p75: number;
  p90: number;
  p99: number;
  /** Interquartile range, p75 - p25. */
  iqr: number;
  /** iqr / p50: the spread of the typical iteration, scale-free. */
  relativeIqr: number;
}

/** Summary of samples (any unit; bench uses milliseconds). */
export function summarize(samples: ArrayLike<number>): LatencyStats {
  const sorted = Float64Array.from(samples).sort();
  const n = sorted.length;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += sorted[i]!;
  const mean = n ? sum / n : NaN;
  let squares = 0;
  for (let i = 0; i < n; i++) squares += (sorted[i]! - mean) ** 2;
  const p = (q: number) => percentileOfSorted(sorted, q);
  const p25 = p(25);
  const p50 = p(50);
  const p75 = p(75);
  return {
    count: n,
    min: n ? sorted[0]! : NaN,
    max: n ? sorted[n - 1]! : NaN,
    mean,
    stddev: n > 1 ? Math.sqrt(squares / (n - 1)) : 0,
    p25,
    p50,
    p75,
    p90: p(90),
    p99: p(99),
    iqr: p75 - p25,
    relativeIqr: p50 > 0 ? (p75 - p25) / p50 : 0,
  };
}

/** A result whose middle half spreads wider than this fraction of its median is flagged noisy. */
export const NOISY_RELATIVE_IQR = 0.1;
/** Fewer timed iterations than this cannot support a p99 or a spread; flagged too. */
export const MIN_RELIABLE_SAMPLES = 10;

/** Why a latency result should not be trusted, or undefined when it looks steady. */
export function noiseReason(stats: LatencyStats): string | undefined {
  if (stats.count < MIN_RELIABLE_SAMPLES) return `only ${stats.count} timed iterations`;
  if (stats.relativeIqr > NOISY_RELATIVE_IQR) return `IQR is ${(stats.relativeIqr * 100).toFixed(0)}% of the median`;
  return undefined;
}
