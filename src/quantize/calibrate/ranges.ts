import { HISTOGRAM_BINS, HistogramStats, type CalibrationMethod, type TensorStats } from './collector.js';

export interface RangeOptions {
  method: CalibrationMethod;
  /** percentile: the share of |x| (in percent) the range keeps. Default 99.999. */
  percentile: number;
}

export interface TensorRange {
  rmin: number;
  rmax: number;
}

/**
 * The real range [rmin, rmax] a tensor is quantized over. minmax: what was seen. percentile:
 * |x| cut at the given percentile of the histogram. entropy: the |x| threshold whose clipped,
 * 128-level (255 for one-sided tensors) distribution is closest to the full one in KL
 * divergence (TensorRT's calibration), exact zeros left out (a Relu's spike at 0 would hide the
 * tail's cost). Clipped ranges never extend past what was seen.
 */
export function tensorRange(stats: TensorStats, o: RangeOptions): TensorRange {
  const seenMin = Number.isFinite(stats.min) ? stats.min : 0;
  const seenMax = Number.isFinite(stats.max) ? stats.max : 0;
  if (o.method === 'minmax' || !(stats instanceof HistogramStats) || stats.range === 0) return { rmin: seenMin, rmax: seenMax };
  const abs = stats.absCounts(o.method === 'percentile');
  const width = stats.range / abs.length;
  const t = o.method === 'percentile' ? percentileThreshold(abs, o.percentile) * width : entropyThreshold(abs, seenMin >= 0 ? 255 : 128) * width;
  return { rmin: Math.max(seenMin, -t), rmax: Math.min(seenMax, t) };
}

/** Bins (from 0) needed to hold `percentile`% of the mass. */
export function percentileThreshold(abs: Float64Array, percentile: number): number {
  let total = 0;
  for (const c of abs) total += c;
  if (total === 0) return abs.length;
  const target = (percentile / 100) * total;
  let sum = 0;
  for (let j = 0; j < abs.length; j++) {
    sum += abs[j]!;
    if (sum >= target) return j + 1;
  }
  return abs.length;
}

/**
 * TensorRT's KL threshold search over an |x| histogram: for each candidate cut i (in bins),
 * P is the histogram up to i with everything beyond folded into its last bin, Q is the same
 * bins merged into `levels` groups and spread back over the non-empty bins of each group;
 * the cut with the smallest KL(P || Q) wins. Returns the cut in bins.
 */
export function entropyThreshold(abs: Float64Array, levels: number): number {
  const n = abs.length;
  // Past the last non-empty bin nothing changes; search up to it.
  let last = n;
  while (last > 0 && abs[last - 1] === 0) last--;
  if (last <= levels) return Math.max(last, 1);
  const suffix = new Float64Array(n + 1);
  for (let j = n - 1; j >= 0; j--) suffix[j] = suffix[j + 1]! + abs[j]!;
  let best = last;
  let bestKl = Infinity;
  const p = new Float64Array(last);
  const q = new Float64Array(last);
  for (let i = levels; i <= last; i++) {
    for (let j = 0; j < i; j++) p[j] = abs[j]!;
    p[i - 1]! += suffix[i]!;
    // Q: `levels` groups of (about) i / levels bins each.
    for (let g = 0; g < levels; g++) {
      const start = Math.floor((g * i) / levels);
      const stop = Math.floor(((g + 1) * i) / levels);
      let sum = 0;
      let nonEmpty = 0;
      for (let j = start; j < stop; j++) {
        sum += abs[j]!;
        if (abs[j] !== 0) nonEmpty++;
      }
      const each = nonEmpty ? sum / nonEmpty : 0;
      for (let j = start; j < stop; j++) q[j] = abs[j] !== 0 ? each : 0;
    }
    const kl = klDivergence(p, q, i);
    if (kl < bestKl) {
      bestKl = kl;
      best = i;
    }
  }
  return best;
}

/** KL(P || Q) of the first n bins, both normalized; Q's empty bins where P has mass get a small epsilon (TensorRT's smoothing). */
function klDivergence(p: Float64Array, q: Float64Array, n: number): number {
  let ps = 0;
  let qs = 0;
  for (let j = 0; j < n; j++) {
    ps += p[j]!;
    qs += q[j]!;
  }
  if (ps === 0 || qs === 0) return Infinity;
  const eps = 1e-4 / n;
  let kl = 0;
  for (let j = 0; j < n; j++) {
    const pj = p[j]! / ps;
    if (pj === 0) continue;
    const qj = Math.max(q[j]! / qs, eps);
    kl += pj * Math.log(pj / qj);
  }
  return kl;
}

export { HISTOGRAM_BINS };
