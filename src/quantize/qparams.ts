/**
 * Scale / zero-point math for linear quantization, following onnxruntime's quantization tools
 * (quant_utils.compute_scale_zp and get_qmin_qmax_for_qType) so a model quantized here matches
 * one quantized there value for value:
 *
 * - the real range always contains 0: rmin = min(rmin, 0), rmax = max(rmax, 0);
 * - symmetric: rmin = -max(|rmin|, |rmax|), rmax = +max(|rmin|, |rmax|);
 * - scale = (rmax - rmin) / (qmax - qmin), or 1.0 (zero point 0) when that is below float32's
 *   smallest normal (rmax == rmin, i.e. an all-zero tensor);
 * - zero_point = round(qmin - rmin / scale), rounding half to even like numpy;
 * - q = clamp(round(x / scale) + zero_point, qmin, qmax), x / scale in float32.
 */

export type QuantType = 'int8' | 'uint8';

export interface QuantRange {
  qmin: number;
  qmax: number;
}

export interface QuantSpec {
  type: QuantType;
  symmetric: boolean;
  /** 7-bit weights: the range onnxruntime uses against u8s8 saturation on AVX2/AVX-512 without VNNI. */
  reduceRange: boolean;
}

export interface QParams {
  scale: number;
  zeroPoint: number;
}

/** smallest positive normal float32 (numpy.finfo(float32).tiny). */
const FLOAT32_TINY = 1.1754943508222875e-38;

/**
 * The integer range for a quantized type: int8 [-128, 127], symmetric int8 [-127, 127],
 * uint8 [0, 255]; with reduce_range int8 [-64, 64] and uint8 [0, 127] (onnxruntime's values).
 */
export function quantRange(spec: QuantSpec): QuantRange {
  if (spec.type === 'uint8') return spec.reduceRange ? { qmin: 0, qmax: 127 } : { qmin: 0, qmax: 255 };
  if (spec.reduceRange) return { qmin: -64, qmax: 64 };
  return spec.symmetric ? { qmin: -127, qmax: 127 } : { qmin: -128, qmax: 127 };
}

/** Rounds to the nearest integer, ties to even (numpy.round, and ONNX QuantizeLinear). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Scale and zero point for real values in [rmin, rmax] (float32 values, finite). The scale is
 * returned as the float32 the model stores.
 */
export function computeQParams(rmin: number, rmax: number, range: QuantRange, symmetric: boolean): QParams {
  const { qmin, qmax } = range;
  if (qmin > 0 || qmax < 0 || qmin >= qmax) throw new Error(`invalid quantization range [${qmin}, ${qmax}]`);
  let lo = Math.min(rmin, 0);
  let hi = Math.max(rmax, 0);
  if (symmetric) {
    const absmax = Math.max(Math.abs(lo), Math.abs(hi));
    lo = -absmax;
    hi = absmax;
  }
  // onnxruntime subtracts in float32, then divides in float64 and stores the scale as float32.
  const dr = Math.fround(hi - lo);
  const scale64 = dr / (qmax - qmin);
  if (scale64 < FLOAT32_TINY) return { scale: 1, zeroPoint: 0 };
  return { scale: Math.fround(scale64), zeroPoint: roundHalfEven(qmin - lo / scale64) };
}

/** One value quantized with (scale, zeroPoint), clamped to the range. */
export function quantizeValue(x: number, p: QParams, range: QuantRange): number {
  const q = roundHalfEven(Math.fround(x / p.scale)) + p.zeroPoint;
  return q < range.qmin ? range.qmin : q > range.qmax ? range.qmax : q;
}

export function dequantizeValue(q: number, p: QParams): number {
  return Math.fround((q - p.zeroPoint) * p.scale);
}

/** Signal-to-quantization-noise ratio in dB; Infinity when the error is zero. */
export function sqnrDb(signalSquares: number, noiseSquares: number): number {
  if (noiseSquares === 0) return Infinity;
  if (signalSquares === 0) return -Infinity;
  return 10 * Math.log10(signalSquares / noiseSquares);
}
