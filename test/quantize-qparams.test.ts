import { describe, expect, it } from 'vitest';
import { UserError } from '../src/errors.js';
import { computeQParams, dequantizeValue, quantizeValue, quantizeWeight, quantRange, roundHalfEven, type QuantSpec } from '../src/quantize/index.js';

const f32 = Math.fround;
const int8sym: QuantSpec = { type: 'int8', symmetric: true, reduceRange: false };
const int8asym: QuantSpec = { type: 'int8', symmetric: false, reduceRange: false };
const uint8asym: QuantSpec = { type: 'uint8', symmetric: false, reduceRange: false };

describe('quantization ranges', () => {
  it('follows onnxruntime: int8 [-128,127], symmetric [-127,127], uint8 [0,255], reduce_range 7-bit', () => {
    expect(quantRange(int8asym)).toEqual({ qmin: -128, qmax: 127 });
    expect(quantRange(int8sym)).toEqual({ qmin: -127, qmax: 127 });
    expect(quantRange(uint8asym)).toEqual({ qmin: 0, qmax: 255 });
    expect(quantRange({ type: 'uint8', symmetric: true, reduceRange: false })).toEqual({ qmin: 0, qmax: 255 });
    expect(quantRange({ type: 'int8', symmetric: true, reduceRange: true })).toEqual({ qmin: -64, qmax: 64 });
    expect(quantRange({ type: 'int8', symmetric: false, reduceRange: true })).toEqual({ qmin: -64, qmax: 64 });
    expect(quantRange({ type: 'uint8', symmetric: false, reduceRange: true })).toEqual({ qmin: 0, qmax: 127 });
  });
});

describe('scale and zero point (hand-computed)', () => {
  it('int8 symmetric: scale = 2 absmax / 254, zero point 0', () => {
    expect(computeQParams(-1, 0.5, quantRange(int8sym), true)).toEqual({ scale: f32(2 / 254), zeroPoint: 0 });
    // The range always contains 0: [0.2, 0.5] is treated as [0, 0.5], then symmetrised to [-0.5, 0.5].
    expect(computeQParams(0.2, 0.5, quantRange(int8sym), true)).toEqual({ scale: f32(1 / 254), zeroPoint: 0 });
  });

  it('int8 asymmetric: scale = (rmax - rmin) / 255, zero point round(qmin - rmin / scale)', () => {
    // rmin -1, rmax 0.5: scale 1.5 / 255; zp = round(-128 + 1 / (1.5 / 255)) = round(-128 + 170) = 42.
    expect(computeQParams(-1, 0.5, quantRange(int8asym), false)).toEqual({ scale: f32(1.5 / 255), zeroPoint: 42 });
  });

  it('uint8 asymmetric and the range widened to contain 0', () => {
    expect(computeQParams(-1, 0.5, quantRange(uint8asym), false)).toEqual({ scale: f32(1.5 / 255), zeroPoint: 170 });
    // All positive: rmin becomes 0, zero point 0.
    expect(computeQParams(0.5, 2, quantRange(uint8asym), false)).toEqual({ scale: f32(2 / 255), zeroPoint: 0 });
    // All negative: rmax becomes 0, zero point at the top.
    expect(computeQParams(-3, -1, quantRange(uint8asym), false)).toEqual({ scale: f32(3 / 255), zeroPoint: 255 });
  });

  it('reduce range: int8 [-64, 64], uint8 [0, 127]', () => {
    expect(computeQParams(-1, 0.5, quantRange({ type: 'int8', symmetric: true, reduceRange: true }), true)).toEqual({ scale: f32(2 / 128), zeroPoint: 0 });
    // uint8: scale 1.5 / 127, zp = round(1 / (1.5 / 127)) = round(84.67) = 85.
    expect(computeQParams(-1, 0.5, quantRange({ type: 'uint8', symmetric: false, reduceRange: true }), false)).toEqual({ scale: f32(1.5 / 127), zeroPoint: 85 });
  });

  it('uint8 symmetric rounds the 127.5 zero point half to even (128)', () => {
    expect(computeQParams(-1, 1, quantRange({ type: 'uint8', symmetric: true, reduceRange: false }), true)).toEqual({ scale: f32(2 / 255), zeroPoint: 128 });
  });

  it('all-zero range: scale 1, zero point 0', () => {
    expect(computeQParams(0, 0, quantRange(int8sym), true)).toEqual({ scale: 1, zeroPoint: 0 });
    expect(computeQParams(0, 0, quantRange(uint8asym), false)).toEqual({ scale: 1, zeroPoint: 0 });
    // Below float32's smallest normal counts as zero range too (onnxruntime's rule).
    expect(computeQParams(0, 1e-40, quantRange(uint8asym), false)).toEqual({ scale: 1, zeroPoint: 0 });
  });

  it('rounds half to even, like numpy and QuantizeLinear', () => {
    expect([0.5, 1.5, 2.5, -1.5, -2.5, 3.5, 2.4, -2.6].map(roundHalfEven)).toEqual([0, 2, 2, -2, -2, 4, 2, -3]);
    const p = { scale: 0.5, zeroPoint: 0 };
    // 1.25 / 0.5 = 2.5 -> 2; 1.75 / 0.5 = 3.5 -> 4.
    expect(quantizeValue(1.25, p, quantRange(int8sym))).toBe(2);
    expect(quantizeValue(1.75, p, quantRange(int8sym))).toBe(4);
    expect(quantizeValue(1000, p, quantRange(int8sym))).toBe(127);
    expect(dequantizeValue(4, { scale: 0.5, zeroPoint: 1 })).toBe(1.5);
  });
});

describe('quantizeWeight', () => {
  it('quantizes per tensor and measures the error', () => {
    const w = Float32Array.of(-1, -0.5, 0, 0.25, 1);
    const q = quantizeWeight('w', w, [5], int8sym);
    const scale = f32(2 / 254);
    expect([...q.scales]).toEqual([scale]);
    expect([...q.zeroPoints]).toEqual([0]);
    expect(q.data).toBeInstanceOf(Int8Array);
    expect([...q.data]).toEqual([-127, roundHalfEven(f32(-0.5 / scale)), 0, roundHalfEven(f32(0.25 / scale)), 127]);
    let signal = 0;
    let noise = 0;
    let maxErr = 0;
    w.forEach((v, i) => {
      const e = v - f32(q.data[i]! * scale);
      signal += v * v;
      noise += e * e;
      maxErr = Math.max(maxErr, Math.abs(e));
    });
    expect(q.maxAbsError).toBeCloseTo(maxErr, 12);
    expect(q.sqnrDb).toBeCloseTo(10 * Math.log10(signal / noise), 9);
    expect(q.maxAbsError).toBeLessThanOrEqual(scale / 2);
  });

  it('all-zero and constant tensors', () => {
    const zero = quantizeWeight('z', new Float32Array(6), [2, 3], int8sym);
    expect([...zero.scales]).toEqual([1]);
    expect([...zero.data]).toEqual([0, 0, 0, 0, 0, 0]);
    expect(zero.sqnrDb).toBe(Infinity);
    expect(zero.maxAbsError).toBe(0);
    const constant = quantizeWeight('c', new Float32Array(4).fill(2), [4], uint8asym);
    expect(constant.data).toBeInstanceOf(Uint8Array);
    expect([...constant.data]).toEqual([255, 255, 255, 255]);
    expect(constant.maxAbsError).toBeLessThan(1e-6);
  });

  it('per channel along the last axis ([in, out] MatMul weights) and along axis 0', () => {
    // Columns: [1, -2], [0.5, 0.25], [0, 0] -> absmax 2, 0.5, 0.
    const w = Float32Array.of(1, 0.5, 0, -2, 0.25, 0);
    const cols = quantizeWeight('w', w, [2, 3], int8sym, 1);
    expect([...cols.scales]).toEqual([f32(4 / 254), f32(1 / 254), 1]);
    expect(cols.axis).toBe(1);
    expect([...cols.data]).toEqual([roundHalfEven(f32(1 / f32(4 / 254))), 127, 0, -127, roundHalfEven(f32(0.25 / f32(1 / 254))), 0]);
    const rows = quantizeWeight('w', w, [2, 3], uint8asym, 0);
    // Row 0: [0, 1] -> scale 1/255, zp 0. Row 1: [-2, 0.25] -> scale 2.25/255, zp round(2 / (2.25/255)) = 227.
    expect([...rows.scales]).toEqual([f32(1 / 255), f32(2.25 / 255)]);
    expect([...rows.zeroPoints]).toEqual([0, 227]);
  });

  it('works from a chunked source the same as from an array', () => {
    const n = 3 * 1000;
    const w = Float32Array.from({ length: n }, (_, i) => Math.sin(i) * (1 + (i % 3)));
    const chunked = {
      length: n,
      forEachChunk(multipleOf: number, visit: (c: Float32Array, start: number) => void) {
        const size = Math.max(multipleOf, Math.floor(64 / multipleOf) * multipleOf);
        for (let s = 0; s < n; s += size) visit(w.slice(s, Math.min(n, s + size)), s);
      },
    };
    for (const axis of [undefined, 0, 1]) {
      const a = quantizeWeight('w', w, [1000, 3], int8asym, axis);
      const b = quantizeWeight('w', chunked, [1000, 3], int8asym, axis);
      expect(b.data).toEqual(a.data);
      expect(b.scales).toEqual(a.scales);
      expect(b.sqnrDb).toBeCloseTo(a.sqnrDb, 9);
    }
  });

  it('long runs (quantized through a table of dequantized values) match value-by-value quantization exactly', () => {
    const specs: QuantSpec[] = [int8sym, int8asym, uint8asym, { type: 'uint8', symmetric: false, reduceRange: true }, { type: 'int8', symmetric: true, reduceRange: true }];
    for (const n of [1023, 1024, 5001]) {
      // Skewed values with exact ties at some positions, so rounding and the zero point both matter.
      const w = Float32Array.from({ length: n }, (_, i) => (i % 97 === 0 ? 0.5 : Math.sin(i * 0.731) * (i % 3 === 0 ? 0.9 : 0.2) + 0.13));
      for (const spec of specs) {
        const q = quantizeWeight('w', w, [n], spec);
        const range = quantRange(spec);
        const p = computeQParams(Math.min(...w), Math.max(...w), range, spec.symmetric);
        let signal = 0;
        let noise = 0;
        let maxErr = 0;
        const expected = Array.from(w, (x) => {
          const v = quantizeValue(x, p, range);
          const e = x - dequantizeValue(v, p);
          signal += x * x;
          noise += e * e;
          maxErr = Math.max(maxErr, Math.abs(e));
          return v;
        });
        const label = `${spec.type} ${spec.symmetric ? 'sym' : 'asym'}${spec.reduceRange ? ' reduce' : ''} n=${n}`;
        expect(Array.from(q.data), label).toEqual(expected);
        expect(q.scales[0], label).toBe(p.scale);
        expect(q.maxAbsError, label).toBe(maxErr);
        expect(q.sqnrDb, label).toBeCloseTo(10 * Math.log10(signal / noise), 9);
      }
    }
    const nan = new Float32Array(3000).fill(0.25);
    nan[2500] = NaN;
    expect(() => quantizeWeight('long', nan, [3000], int8sym)).toThrow(/long.*NaN at flat index 2500/);
  });

  it('rejects NaN and Inf, naming the tensor', () => {
    expect(() => quantizeWeight('enc.w', Float32Array.of(1, NaN, 2), [3], int8sym)).toThrow(UserError);
    expect(() => quantizeWeight('enc.w', Float32Array.of(1, NaN, 2), [3], int8sym)).toThrow(/enc\.w.*NaN/);
    expect(() => quantizeWeight('enc.w', Float32Array.of(1, -Infinity), [2], int8sym)).toThrow(/enc\.w.*-Infinity/);
    expect(() => quantizeWeight('col', Float32Array.of(1, 2, NaN, 4), [2, 2], int8sym, 1)).toThrow(/col.*NaN at flat index 2/);
  });
});
