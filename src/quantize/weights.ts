import { UserError } from '../errors.js';
import { tensorByteLength, type TensorProto } from '../onnx/index.js';
import { computeQParams, quantRange, sqnrDb, type QuantSpec } from './qparams.js';
import type { QuantizedTensorReport } from './report.js';

/** A float32 tensor read in chunks: in memory, or straight from the model file (see float-source.ts). */
export interface FloatSource {
  readonly length: number;
  /**
   * Calls `visit` with consecutive chunks covering [0, length); every chunk but the last holds a
   * multiple of `multipleOf` values. A chunk is only valid during its call.
   */
  forEachChunk(multipleOf: number, visit: (chunk: Float32Array, start: number) => void): void;
}

/** A FloatSource over a Float32Array already in memory (one chunk, no copy). */
export function arraySource(values: Float32Array): FloatSource {
  return { length: values.length, forEachChunk: (_m, visit) => visit(values, 0) };
}

/** A float tensor quantized per tensor or per channel, with the error it carries. */
export interface QuantizedWeight {
  data: Int8Array | Uint8Array;
  dims: number[];
  /** One scale per channel (length 1 per tensor). */
  scales: Float32Array;
  zeroPoints: Int32Array;
  /** Channel axis for per-channel quantization, undefined per tensor. */
  axis: number | undefined;
  maxAbsError: number;
  /** Infinity when the quantization is exact. */
  sqnrDb: number;
}

// Adding and removing 1.5 * 2^52 rounds a double (|x| < 2^51) to the nearest integer, ties to
// even, which is numpy.round and QuantizeLinear's rounding.
const ROUND_MAGIC = 6755399441055744;

/**
 * Quantizes a float tensor (`dims`, row-major) per tensor, or per channel along `axis`.
 * Two passes over the source: ranges, then values with their error (max abs, SQNR).
 * NaN or Inf anywhere is a UserError naming the tensor.
 */
export function quantizeWeight(name: string, values: Float32Array | FloatSource, dims: readonly number[], spec: QuantSpec, axis?: number): QuantizedWeight {
  const source = values instanceof Float32Array ? arraySource(values) : values;
  const ranges = weightRanges(name, source, dims, spec, axis);
  // Computed in an Int8Array either way (one monomorphic store; uint8 values keep their bit
  // pattern) and viewed as Uint8Array for uint8.
  const q8 = new Int8Array(source.length);
  const error = quantizeWithRanges(name, source, ranges, q8);
  const data = spec.type === 'int8' ? q8 : new Uint8Array(q8.buffer);
  return { data, dims: [...dims], scales: ranges.scales, zeroPoints: ranges.zeroPoints, axis, ...error };
}

/** The first pass of quantizeWeight: a weight's scales and zero points, and how its values map to channels. */
export interface WeightRanges {
  dims: number[];
  spec: QuantSpec;
  axis: number | undefined;
  scales: Float32Array;
  zeroPoints: Int32Array;
}

/** Pass one: each channel's range, as scale and zero point. Inf is a UserError naming the tensor (NaN shows in pass two). */
export function weightRanges(name: string, source: FloatSource, dims: readonly number[], spec: QuantSpec, axis?: number): WeightRanges {
  if (source.length >= WARM_UP_FROM && !warmedUp) warmUpKernels();
  const range = quantRange(spec);
  const { channels, inner, lastAxis, unit } = layout(dims, axis);
  const mins = new Float64Array(channels).fill(Infinity);
  const maxs = new Float64Array(channels).fill(-Infinity);
  source.forEachChunk(unit, (chunk, start) => {
    if (axis === undefined) return minMaxRun(chunk, 0, chunk.length, mins, maxs, 0);
    if (lastAxis) return minMaxRows(chunk, channels, mins, maxs);
    for (let s = 0; s < chunk.length; s += inner) minMaxRun(chunk, s, s + inner, mins, maxs, ((start + s) / inner) % channels);
  });
  for (let c = 0; c < channels; c++) {
    if (maxs[c] === Infinity || mins[c] === -Infinity) throwNonFinite(name, source);
    // An empty tensor has no range; a NaN-only one is caught after the second pass.
    if (mins[c] === Infinity) mins[c] = 0;
    if (maxs[c] === -Infinity) maxs[c] = 0;
  }
  const scales = new Float32Array(channels);
  const zeroPoints = new Int32Array(channels);
  for (let c = 0; c < channels; c++) {
    const p = computeQParams(mins[c]!, maxs[c]!, range, spec.symmetric);
    scales[c] = p.scale;
    zeroPoints[c] = p.zeroPoint;
  }
  return { dims: [...dims], spec, axis, scales, zeroPoints };
}

/**
 * Pass two: quantizes `source` with `ranges` into `target`: the whole tensor's int8 buffer (uint8
 * values keep their bit pattern), or a function handed each chunk's values in order with the flat
 * index of its first value (one reused buffer: a chunk is only valid during its call). Returns
 * the error.
 */
export function quantizeWithRanges(
  name: string,
  source: FloatSource,
  ranges: WeightRanges,
  target: Int8Array | ((chunk: Int8Array, start: number) => void),
): { maxAbsError: number; sqnrDb: number } {
  const into = target instanceof Int8Array ? target : undefined;
  const { qmin, qmax } = quantRange(ranges.spec);
  const { channels, inner, lastAxis, unit } = layout(ranges.dims, ranges.axis);
  const stats = new Float64Array(3); // sum w^2, sum err^2, max |err|
  const zpF = Float64Array.from(ranges.zeroPoints);
  const scaleF = Float64Array.from(ranges.scales);
  source.forEachChunk(unit, (chunk, start) => {
    // Offsets into `out`: the whole tensor's (at start) or a chunk buffer's own (at 0).
    const out = into ?? chunkBuffer(chunk.length);
    const at = into ? start : 0;
    if (ranges.axis === undefined) quantizeRun(chunk, 0, chunk.length, out, at, scaleF[0]!, zpF[0]!, qmin, qmax, stats);
    else if (lastAxis) quantizeRows(chunk, out, at, channels, scaleF, zpF, qmin, qmax, stats);
    else {
      for (let s = 0; s < chunk.length; s += inner) {
        const c = ((start + s) / inner) % channels;
        quantizeRun(chunk, s, s + inner, out, at, scaleF[c]!, zpF[c]!, qmin, qmax, stats);
      }
    }
    if (!into) (target as (chunk: Int8Array, start: number) => void)(out.subarray(0, chunk.length), start);
  });
  // Comparisons skip NaN, so a NaN weight shows up only here, as a NaN error sum.
  if (stats[1] !== stats[1]) throwNonFinite(name, source);
  return { maxAbsError: stats[2]!, sqnrDb: sqnrDb(stats[0]!, stats[1]!) };
}

/** Flat index i belongs to channel floor(i / inner) % channels; inner 1 means the last axis. */
function layout(dims: readonly number[], axis: number | undefined) {
  const channels = axis === undefined ? 1 : dims[axis]!;
  const inner = axis === undefined ? 1 : dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const lastAxis = axis !== undefined && inner === 1 && channels > 1;
  const unit = axis === undefined ? 1 : lastAxis ? channels : inner;
  return { channels, inner, lastAxis, unit };
}

let chunkOut: Int8Array | undefined;
/** One reused output buffer for chunked quantization (fresh pages are slow on some VMs). */
function chunkBuffer(values: number): Int8Array {
  if (!chunkOut || chunkOut.length < values) chunkOut = new Int8Array(values);
  return chunkOut;
}

/** Tensors this large start with optimized kernels (see warmUpKernels). */
const WARM_UP_FROM = 1 << 20;
let warmedUp = false;

/**
 * Runs every kernel below on small tensors (per tensor and per channel, values that clamp, odd
 * lengths) so V8 optimizes them with complete type feedback before the first large weight.
 * Without it the first two multi-million-value calls ran in code that boxed every double: 2.5-3x
 * slower and one young-generation GC per ~30k values (measured: 537 and 422 ms against 172 ms
 * for 4M values, 268 scavenges each). The warm-up costs about 40-100 ms, once per process.
 */
function warmUpKernels(): void {
  warmedUp = true;
  const values = Float32Array.from({ length: 129 * 127 }, (_, i) => (((i * 7919) % 2001) - 1000) / 997);
  const specs: QuantSpec[] = [
    { type: 'int8', symmetric: true, reduceRange: false },
    { type: 'uint8', symmetric: false, reduceRange: true },
  ];
  for (let k = 0; k < 4; k++) {
    for (const spec of specs) {
      quantizeWeight('warm-up', values, [values.length], spec);
      quantizeWeight('warm-up', values.subarray(1), [values.length - 1], spec);
      quantizeWeight('warm-up', values, [129, 127], spec, 1);
      quantizeWeight('warm-up', values, [129, 127], spec, 0);
    }
  }
}

function minMaxRun(a: Float32Array, from: number, to: number, mins: Float64Array, maxs: Float64Array, c: number): void {
  let lo = mins[c]!;
  let hi = maxs[c]!;
  for (let i = from; i < to; i++) {
    const v = a[i]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  mins[c] = lo;
  maxs[c] = hi;
}

function minMaxRows(a: Float32Array, channels: number, mins: Float64Array, maxs: Float64Array): void {
  for (let row = 0; row < a.length; row += channels) {
    for (let c = 0; c < channels; c++) {
      const v = a[row + c]!;
      if (v < mins[c]!) mins[c] = v;
      if (v > maxs[c]!) maxs[c] = v;
    }
  }
}

/** fround((q - zp) * scale) of each integer q in [qmin, qmax], at q - qmin (quantizeLongRun). */
const dequantized = new Float64Array(256);

/** Quantizes a[from, to) with one scale into out[offset + i]; accumulates error statistics. */
function quantizeRun(a: Float32Array, from: number, to: number, out: Int8Array, offset: number, scale: number, zp: number, qmin: number, qmax: number, stats: Float64Array): void {
  if (to - from >= 1024) return quantizeLongRun(a, from, to, out, offset, scale, zp, qmin, qmax, stats);
  // Two independent accumulator chains, and branch-free min/max of the error (the largest error
  // is max(emax, -emin)): both measured 2-3x faster than the straightforward loop.
  let s0 = 0;
  let s1 = 0;
  let t0 = 0;
  let t1 = 0;
  let emax = 0;
  let emin = 0;
  let i = from;
  for (; i + 1 < to; i += 2) {
    const v = a[i]!;
    let q = Math.fround(v / scale) + ROUND_MAGIC - ROUND_MAGIC + zp;
    q = q < qmin ? qmin : q > qmax ? qmax : q;
    out[offset + i] = q;
    const e = v - Math.fround((q - zp) * scale);
    s0 += v * v;
    s1 += e * e;
    const w = a[i + 1]!;
    let r = Math.fround(w / scale) + ROUND_MAGIC - ROUND_MAGIC + zp;
    r = r < qmin ? qmin : r > qmax ? qmax : r;
    out[offset + i + 1] = r;
    const f = w - Math.fround((r - zp) * scale);
    t0 += w * w;
    t1 += f * f;
    emax = Math.max(emax, e, f);
    emin = Math.min(emin, e, f);
  }
  for (; i < to; i++) {
    const v = a[i]!;
    let q = Math.fround(v / scale) + ROUND_MAGIC - ROUND_MAGIC + zp;
    q = q < qmin ? qmin : q > qmax ? qmax : q;
    out[offset + i] = q;
    const e = v - Math.fround((q - zp) * scale);
    s0 += v * v;
    s1 += e * e;
    emax = Math.max(emax, e);
    emin = Math.min(emin, e);
  }
  stats[0] += s0 + t0;
  stats[1] += s1 + t1;
  stats[2] = Math.max(stats[2]!, emax, -emin);
}

/**
 * quantizeRun for runs long enough to pay for a table of the 256 dequantized values: the error
 * takes a lookup instead of a multiply and two float32 roundings, q is clamped as an integer,
 * and the largest error is tracked as |e| with a rarely taken branch (20 % less CPU per value
 * than quantizeRun's loop, measured; same values, same sums in the same order).
 */
function quantizeLongRun(a: Float32Array, from: number, to: number, out: Int8Array, offset: number, scale: number, zp: number, qmin: number, qmax: number, stats: Float64Array): void {
  const deq = dequantized;
  for (let q = qmin; q <= qmax; q++) deq[q - qmin] = Math.fround((q - zp) * scale);
  let s0 = 0;
  let s1 = 0;
  let t0 = 0;
  let t1 = 0;
  let emax = 0;
  let fmax = 0;
  let i = from;
  for (; i + 1 < to; i += 2) {
    // |0 is exact here: |x / scale| is at most a few hundred for values within the range (NaN gives 0, and a NaN error sum).
    const v = a[i]!;
    let q = (Math.fround(v / scale) + ROUND_MAGIC - ROUND_MAGIC + zp) | 0;
    if (q < qmin) q = qmin;
    else if (q > qmax) q = qmax;
    out[offset + i] = q;
    const e = v - deq[q - qmin]!;
    s0 += v * v;
    s1 += e * e;
    const w = a[i + 1]!;
    let r = (Math.fround(w / scale) + ROUND_MAGIC - ROUND_MAGIC + zp) | 0;
    if (r < qmin) r = qmin;
    else if (r > qmax) r = qmax;
    out[offset + i + 1] = r;
    const f = w - deq[r - qmin]!;
    t0 += w * w;
    t1 += f * f;
    const ae = Math.abs(e);
    const af = Math.abs(f);
    if (ae > emax) emax = ae;
    if (af > fmax) fmax = af;
  }
  for (; i < to; i++) {
    const v = a[i]!;
    let q = (Math.fround(v / scale) + ROUND_MAGIC - ROUND_MAGIC + zp) | 0;
    if (q < qmin) q = qmin;
    else if (q > qmax) q = qmax;
    out[offset + i] = q;
    const e = v - deq[q - qmin]!;
    s0 += v * v;
    s1 += e * e;
    const ae = Math.abs(e);
    if (ae > emax) emax = ae;
  }
  stats[0] += s0 + t0;
  stats[1] += s1 + t1;
  stats[2] = Math.max(stats[2]!, emax, fmax);
}

/** Per-channel along the last axis: element j of each row uses channel j's scale. */
function quantizeRows(a: Float32Array, out: Int8Array, offset: number, channels: number, scales: Float64Array, zps: Float64Array, qmin: number, qmax: number, stats: Float64Array): void {
  let s0 = 0;
  let s1 = 0;
  let emax = 0;
  let emin = 0;
  for (let row = 0; row < a.length; row += channels) {
    for (let c = 0; c < channels; c++) {
      const v = a[row + c]!;
      const scale = scales[c]!;
      const zp = zps[c]!;
      let q = Math.fround(v / scale) + ROUND_MAGIC - ROUND_MAGIC + zp;
      q = q < qmin ? qmin : q > qmax ? qmax : q;
      out[offset + row + c] = q;
      const e = v - Math.fround((q - zp) * scale);
      s0 += v * v;
      s1 += e * e;
      emax = Math.max(emax, e);
      emin = Math.min(emin, e);
    }
  }
  stats[0] += s0;
  stats[1] += s1;
  stats[2] = Math.max(stats[2]!, emax, -emin);
}

function throwNonFinite(name: string, source: FloatSource): never {
  let found = '';
  source.forEachChunk(1, (chunk, start) => {
    if (found) return;
    const i = chunk.findIndex((v) => !Number.isFinite(v));
    if (i >= 0) found = `${chunk[i]} at flat index ${start + i}`;
  });
  throw new UserError(`tensor ${name}: holds ${found || 'NaN/Inf'}; weights with NaN/Inf cannot be quantized`);
}

/** A [rows, cols] int8/uint8 matrix transposed to [cols, rows]. */
export function transpose2d<T extends Int8Array | Uint8Array>(data: T, rows: number, cols: number): T {
  const out = new (data.constructor as { new (n: number): T })(data.length);
  const blk = 64;
  for (let r0 = 0; r0 < rows; r0 += blk) {
    const r1 = Math.min(rows, r0 + blk);
    for (let c0 = 0; c0 < cols; c0 += blk) {
      const c1 = Math.min(cols, c0 + blk);
      for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) out[c * rows + r] = data[r * cols + c]!;
    }
  }
  return out;
}

/**
 * The report entry of an int8/uint8 weight written as data, scale and zero point initializers
 * (`written`): per tensor, scale and zero point are single numbers; per channel, lists.
 */
export function weightTensorReport(
  name: string,
  quantizedName: string,
  opType: string,
  dims: number[],
  dtype: 'int8' | 'uint8',
  axis: number | undefined,
  q: QuantizedWeight,
  original: TensorProto,
  written: TensorProto[],
): QuantizedTensorReport {
  const list = (a: ArrayLike<number>) => (axis === undefined ? a[0]! : Array.from(a));
  return {
    name,
    quantizedName,
    nodes: [],
    opType,
    shape: dims,
    dtype,
    axis: axis ?? null,
    scale: list(q.scales),
    zeroPoint: list(q.zeroPoints),
    maxAbsError: q.maxAbsError,
    sqnrDb: Number.isFinite(q.sqnrDb) ? q.sqnrDb : null,
    bytesBefore: tensorByteLength(original),
    bytesAfter: written.reduce((s, t) => s + tensorByteLength(t), 0),
  };
}
