/**
 * Per-tensor statistics kept while calibration batches stream through the model. Memory is
 * fixed per tensor whatever the number of batches: two numbers for min/max, HISTOGRAM_BINS
 * float64 counts for a histogram. Activations themselves are never kept.
 */

export type CalibrationMethod = 'minmax' | 'percentile' | 'entropy';
export const calibrationMethods: readonly CalibrationMethod[] = ['minmax', 'percentile', 'entropy'];

/** Bins of each histogram (over [-R, R], R growing by doubling). 16 KiB per tensor. */
export const HISTOGRAM_BINS = 2048;

export interface TensorStats {
  /** Folds one batch of the tensor's values in. */
  add(values: Float32Array): void;
  readonly min: number;
  readonly max: number;
}

/** Running min/max; with `movingAverage` each batch's min/max moves the range by that fraction (onnxruntime's averaging constant). */
export class MinMaxStats implements TensorStats {
  min = Infinity;
  max = -Infinity;
  private batches = 0;
  constructor(private readonly movingAverage?: number) {}

  add(values: Float32Array): void {
    const [lo, hi] = minMax(values);
    if (lo > hi) return;
    const c = this.movingAverage;
    if (c === undefined || this.batches === 0) {
      this.min = Math.min(this.min, lo);
      this.max = Math.max(this.max, hi);
    } else {
      this.min += c * (lo - this.min);
      this.max += c * (hi - this.max);
    }
    this.batches++;
  }
}

/**
 * A histogram over [-R, R] with a fixed number of bins. R starts at the first batch's largest
 * |x| rounded up to a power of two and doubles when a later batch goes past it: doubling merges
 * pairs of bins exactly (each new bin covers two old ones), so no count is ever smeared.
 */
export class HistogramStats implements TensorStats {
  min = Infinity;
  max = -Infinity;
  /** Half-width of the histogram's range; 0 until a non-zero value arrives. */
  range = 0;
  readonly counts = new Float64Array(HISTOGRAM_BINS);
  /**
   * Exact zeros, counted apart from the bins: Relu outputs are mostly zeros, and such a spike
   * would drown the KL divergence of the entropy method (0 is always exact in int8 anyway).
   */
  zeros = 0;

  add(values: Float32Array): void {
    const [lo, hi] = minMax(values);
    if (lo > hi) return;
    this.min = Math.min(this.min, lo);
    this.max = Math.max(this.max, hi);
    const absmax = Math.max(-lo, hi);
    if (absmax === 0) {
      this.zeros += values.length;
      return;
    }
    if (this.range === 0) {
      this.range = 2 ** Math.ceil(Math.log2(absmax));
      if (this.range < absmax) this.range *= 2;
    }
    while (this.range < absmax) this.double();
    const bins = HISTOGRAM_BINS;
    const k = bins / (2 * this.range);
    const r = this.range;
    const counts = this.counts;
    let zeros = 0;
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      if (v === 0) {
        zeros++;
        continue;
      }
      if (v !== v) continue;
      let b = Math.floor((v + r) * k);
      if (b >= bins) b = bins - 1;
      else if (b < 0) b = 0;
      counts[b]++;
    }
    this.zeros += zeros;
  }

  private double(): void {
    const c = this.counts;
    const n = HISTOGRAM_BINS;
    const merged = new Float64Array(n);
    // Old bin j covers [-R + j w, ...); in the doubled range it lands in bin n/4 + floor(j / 2).
    for (let j = 0; j < n; j++) merged[n / 4 + (j >> 1)]! += c[j]!;
    c.set(merged);
    this.range *= 2;
  }

  /** Counts of |x| over [0, range): bin j covers [j, j + 1) * range / (bins / 2); exact zeros in bin 0 when asked. */
  absCounts(withZeros: boolean): Float64Array {
    const half = HISTOGRAM_BINS / 2;
    const out = new Float64Array(half);
    for (let j = 0; j < half; j++) out[j] = this.counts[half + j]! + this.counts[half - 1 - j]!;
    if (withZeros) out[0]! += this.zeros;
    return out;
  }

  get total(): number {
    let s = this.zeros;
    for (const c of this.counts) s += c;
    return s;
  }
}

/** [min, max] of the finite values; [Infinity, -Infinity] when there are none. */
export function minMax(a: Float32Array): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < a.length; i++) {
    const v = a[i]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  // Inf values would make every range useless; clip them to the float32 range.
  if (lo === -Infinity) lo = -3.4028234663852886e38;
  if (hi === Infinity) hi = 3.4028234663852886e38;
  return [lo, hi];
}
