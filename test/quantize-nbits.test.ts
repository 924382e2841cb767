import { describe, expect, it } from 'vitest';
import { SeededRandom } from '../src/architectures/random.js';
import { checkModel, DataType, GraphBuilder, tensorDims, tensorToArray, type ModelProto, type NodeProto, type TensorProto } from '../src/onnx/index.js';
import { quantizeRowBlocks } from '../src/quantize/blockwise.js';
import { quantizeModel, type QuantizeOptions } from '../src/quantize/index.js';
import { ort } from '../src/runtime/session.js';
import { bertFeeds, opTypes, runModel, smallBertModel, sqnrDb } from './quantize-fixtures.js';

const randoms = (rng: SeededRandom, n: number, scale = 0.1) => Float32Array.from({ length: n }, () => rng.normal() * scale);

/** Codes read back from packed bytes, independently of the packer: low nibble first. */
function unpack(bytes: ArrayLike<number>, bits: number, count: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < count; i++) out.push(bits === 8 ? bytes[i]! : (bytes[i >> 1]! >> ((i & 1) * 4)) & 15);
  return out;
}

/** float64 dequantization of MatMulNBits' B back to W [K, N] from the stored tensors. */
function dequantizeNBits(B: Uint8Array, scales: Float32Array, zps: Uint8Array | undefined, K: number, N: number, bits: number, blockSize: number): Float64Array {
  const kBlocks = Math.ceil(K / blockSize);
  const blob = (blockSize * bits) / 8;
  const zpPerRow = Math.ceil((kBlocks * bits) / 8);
  const w = new Float64Array(K * N);
  for (let n = 0; n < N; n++) {
    for (let b = 0; b < kBlocks; b++) {
      const codes = unpack(B.subarray((n * kBlocks + b) * blob, (n * kBlocks + b + 1) * blob), bits, blockSize);
      const zp = zps ? unpack(zps.subarray(n * zpPerRow, (n + 1) * zpPerRow), bits, kBlocks)[b]! : 2 ** (bits - 1);
      for (let j = 0; j < blockSize && b * blockSize + j < K; j++) w[(b * blockSize + j) * N + n] = (codes[j]! - zp) * scales[n * kBlocks + b]!;
    }
  }
  return w;
}

/** float64 x [M, K] @ w [K, N] (+ bias). */
function matmul64(x: Float32Array, w: Float64Array, M: number, K: number, N: number, bias?: Float32Array): Float64Array {
  const y = new Float64Array(M * N);
  for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) {
    let s = bias ? bias[n]! : 0;
    for (let k = 0; k < K; k++) s += x[m * K + k]! * w[k * N + n]!;
    y[m * N + n] = s;
  }
  return y;
}

const init = (m: ModelProto, name: string | undefined): TensorProto | undefined => (name ? m.graph!.initializer!.find((t) => t.name === name) : undefined);
const nodeOf = (m: ModelProto, op: string): NodeProto => m.graph!.node!.find((n) => n.opType === op)!;
const attr = (n: NodeProto, name: string) => Number(n.attribute!.find((a) => a.name === name)!.i);

describe('block quantization math (quantizeRowBlocks)', () => {
  const rng = new SeededRandom(7);
  const rows = 5;
  const length = 40; // not a multiple of the block: the last block of each row is padded
  const values = randoms(rng, rows * length);
  values[3] = 0.9; // a positive peak: symmetric scale comes out negative so 0.9 is exact
  values[length + 4] = -0.8;

  for (const bits of [4, 8] as const) {
    it(`symmetric ${bits}-bit: scale = peak / -2^(b-1), codes within the range, error <= scale/2 except the clipped opposite peak`, () => {
      const q = quantizeRowBlocks('w', values, rows, length, { bits, blockSize: 16, symmetric: true }, true);
      expect(q.blocksPerRow).toBe(3);
      expect(q.packed.length).toBe((rows * 3 * 16 * bits) / 8);
      expect(q.zeroPoints).toBeUndefined();
      const half = 2 ** (bits - 1);
      let noise = 0;
      let signal = 0;
      for (let r = 0; r < rows; r++) {
        const codes = unpack(q.packed.subarray((r * 48 * bits) / 8), bits, 48);
        for (let b = 0; b < 3; b++) {
          const block = Array.from(values.subarray(r * length + b * 16, r * length + Math.min(length, (b + 1) * 16)));
          const peak = block.reduce((p, v) => (Math.abs(v) > Math.abs(p) ? v : p), 0);
          const scale = q.scales[r * 3 + b]!;
          expect(scale).toBeCloseTo(peak / -half, 7);
          block.forEach((w, j) => {
            const code = codes[b * 16 + j]!;
            expect(code).toBeGreaterThanOrEqual(0);
            expect(code).toBeLessThan(2 * half);
            const deq = (code - half) * scale;
            const clipped = Math.round(w / scale) > half - 1;
            expect(Math.abs(w - deq)).toBeLessThanOrEqual(Math.abs(scale) * (clipped ? 1 : 0.5) + 1e-7);
            if (w === peak) expect(deq).toBeCloseTo(peak, 6);
            noise += (w - deq) ** 2;
            signal += w * w;
          });
          // Padding (K = 40 ends inside block 2) decodes to 0.
          for (let j = length - b * 16; b === 2 && j < 16; j++) expect(codes[b * 16 + j]).toBe(half);
        }
      }
      expect(q.sqnrDb).toBeCloseTo(10 * Math.log10(signal / noise), 6);
      expect(q.sqnrDb).toBeGreaterThan(bits === 4 ? 15 : 40);
    });

    it(`asymmetric ${bits}-bit: range holds 0, zero points stored packed, error <= scale/2`, () => {
      const positive = values.map((v) => Math.abs(v) + 0.05); // all > 0: the range must still reach 0
      const q = quantizeRowBlocks('w', positive, rows, length, { bits, blockSize: 16, symmetric: false }, true);
      const zpPerRow = Math.ceil((3 * bits) / 8);
      expect(q.zeroPoints!.length).toBe(rows * zpPerRow);
      const qmax = 2 ** bits - 1;
      for (let r = 0; r < rows; r++) {
        const codes = unpack(q.packed.subarray((r * 48 * bits) / 8), bits, 48);
        const zps = unpack(q.zeroPoints!.subarray(r * zpPerRow), bits, 3);
        for (let b = 0; b < 3; b++) {
          const block = Array.from(positive.subarray(r * length + b * 16, r * length + Math.min(length, (b + 1) * 16)));
          const scale = q.scales[r * 3 + b]!;
          expect(scale).toBeCloseTo(Math.max(...block) / qmax, 7);
          expect(zps[b]).toBe(0);
          block.forEach((w, j) => expect(Math.abs(w - (codes[b * 16 + j]! - zps[b]!) * scale)).toBeLessThanOrEqual(scale / 2 + 1e-7));
        }
      }
    });
  }
});

describe('quantizeModel --bits: MatMulNBits and GatherBlockQuantized run in onnxruntime as the float64 reference says', () => {
  const rng = new SeededRandom(3);
  const M = 6;
  const K = 72; // 72 = 2 blocks of 32 + 8: padded
  const N = 24;
  const x = randoms(rng, M * K, 1);
  const W = randoms(rng, K * N);
  const bias = randoms(rng, N);

  function matmulModel(): ModelProto {
    const b = new GraphBuilder({ opset: 17 });
    const a = b.input('x', DataType.FLOAT, [2, 3, K]);
    const y = b.op('MatMul', [a, b.initializer('W', W, [K, N])]);
    b.node('Add', [y, b.initializer('bias', bias, [N])], { outputs: ['y'] });
    b.output('y', DataType.FLOAT, [2, 3, N]);
    return b.build();
  }

  const cases: Array<[string, QuantizeOptions, number]> = [
    ['4-bit symmetric, accuracy_level 1', { bits: 4, accuracyLevel: 1 }, 1e-4],
    ['4-bit asymmetric, accuracy_level 0', { bits: 4, symmetric: false, accuracyLevel: 0 }, 1e-4],
    ['8-bit symmetric, block 16', { bits: 8, blockSize: 16, accuracyLevel: 1 }, 1e-4],
    ['4-bit symmetric, accuracy_level 4 (int8 activations: looser)', { bits: 4, accuracyLevel: 4 }, 2e-2],
  ];
  for (const [title, options, tol] of cases) {
    it(`MatMul + bias Add: ${title}`, async () => {
      const { model, report } = quantizeModel(matmulModel(), { ...options, minElements: 0 });
      expect(checkModel(model)).toEqual([]);
      expect(opTypes(model)).toEqual(['com.microsoft.MatMulNBits']); // the bias Add folded into the op
      const node = nodeOf(model, 'MatMulNBits');
      const bits = options.bits!;
      const blockSize = options.blockSize ?? 32;
      expect([attr(node, 'K'), attr(node, 'N'), attr(node, 'bits'), attr(node, 'block_size'), attr(node, 'accuracy_level')]).toEqual([K, N, bits, blockSize, options.accuracyLevel]);
      const B = init(model, node.input![1])!;
      const kBlocks = Math.ceil(K / blockSize);
      expect(tensorDims(B)).toEqual([N, kBlocks, (blockSize * bits) / 8]);
      const scales = tensorToArray(init(model, node.input![2])!) as Float32Array;
      expect(tensorDims(init(model, node.input![2])!)).toEqual([N, kBlocks]);
      const zps = init(model, node.input![3]);
      expect(zps === undefined).toBe(options.symmetric !== false);
      const deq = dequantizeNBits(tensorToArray(B) as Uint8Array, scales, zps && (tensorToArray(zps) as Uint8Array), K, N, bits, blockSize);
      const expected = matmul64(x, deq, M, K, N, bias);
      const got = await runModel(model, { x: new ort.Tensor('float32', x, [2, 3, K]) });
      let worst = 0;
      for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(got[i]! - expected[i]!));
      const peak = Math.max(...Array.from(expected, Math.abs));
      expect(worst / peak).toBeLessThan(tol);
      // The report: one tensor, bits, block size, error, sizes.
      expect(report.tensors).toHaveLength(1);
      expect(report.tensors[0]).toMatchObject({ name: 'W', opType: 'MatMul', shape: [K, N], block: { bits, size: blockSize, count: N * kBlocks } });
      const zpBytes = options.symmetric === false ? N * Math.ceil((kBlocks * bits) / 8) : 0;
      expect(report.tensors[0]!.bytesAfter).toBe(N * kBlocks * ((blockSize * bits) / 8) + N * kBlocks * 4 + zpBytes);
      expect(report.tensors[0]!.bytesBefore).toBe(K * N * 4);
    });
  }

  it('Gemm with transB=0 and 1, alpha and a 2-D C: same as the dequantized-weight product', async () => {
    for (const transB of [0, 1]) {
      const b = new GraphBuilder({ opset: 17 });
      const a = b.input('x', DataType.FLOAT, [M, K]);
      const Wt = new Float32Array(K * N);
      for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) Wt[n * K + k] = W[k * N + n]!;
      const C = randoms(rng, M * N);
      b.node('Gemm', [a, b.initializer('W', transB ? Wt : W, transB ? [N, K] : [K, N]), b.initializer('C', C, [M, N])], { attrs: { transB, alpha: 0.5 }, outputs: ['y'] });
      b.output('y', DataType.FLOAT, [M, N]);
      const { model } = quantizeModel(b.build(), { bits: 4, accuracyLevel: 1, minElements: 0 });
      expect(checkModel(model)).toEqual([]);
      const node = nodeOf(model, 'MatMulNBits');
      const deq = dequantizeNBits(tensorToArray(init(model, node.input![1])!) as Uint8Array, tensorToArray(init(model, node.input![2])!) as Float32Array, undefined, K, N, 4, 32);
      const prod = matmul64(x, deq, M, K, N);
      const got = await runModel(model, { x: new ort.Tensor('float32', x, [M, K]) });
      for (let i = 0; i < M * N; i++) expect(got[i]).toBeCloseTo(0.5 * prod[i]! + C[i]!, 4);
    }
  });

  it('Gather on a table -> GatherBlockQuantized (4 and 8 bits, symmetric and asymmetric): gathered rows equal the dequantized table', async () => {
    const V = 50;
    const Hd = 48; // 1.5 blocks of 32: scales [V, 2], rows unpadded
    const table = randoms(rng, V * Hd);
    for (const [bits, symmetric] of [[4, true], [8, true], [4, false], [8, false]] as const) {
      const b = new GraphBuilder({ opset: 17 });
      const ids = b.input('ids', DataType.INT64, [2, 3]);
      b.node('Gather', [b.initializer('table', table, [V, Hd]), ids], { outputs: ['y'] });
      b.output('y', DataType.FLOAT, [2, 3, Hd]);
      const { model, report } = quantizeModel(b.build(), { bits, symmetric, minElements: 0 });
      expect(checkModel(model)).toEqual([]);
      const node = nodeOf(model, 'GatherBlockQuantized');
      // Asymmetric: zero points packed like the codes, [V, ceil(2 blocks * bits / 8)].
      const zpTensor = init(model, node.input![3]);
      expect(zpTensor === undefined).toBe(symmetric);
      const zps = zpTensor && unpack(tensorToArray(zpTensor) as Uint8Array, bits, V * Math.ceil((2 * bits) / 8) * (8 / bits));
      const zpPerRow = Math.ceil((2 * bits) / 8) * (8 / bits);
      const zpOf = (row: number, blk: number) => (zps ? zps[row * zpPerRow + blk]! : 2 ** (bits - 1));
      expect(node.domain).toBe('com.microsoft');
      const data = init(model, node.input![0])!;
      expect(tensorDims(data)).toEqual([V, (Hd * bits) / 8]);
      const scales = tensorToArray(init(model, node.input![2])!) as Float32Array;
      const codes = unpack(tensorToArray(data) as Uint8Array, bits, V * Hd);
      const picks = [0, 7, 49, 3, 3, 12];
      const got = await runModel(model, { ids: new ort.Tensor('int64', BigInt64Array.from(picks.map(BigInt)), [2, 3]) });
      picks.forEach((row, p) => {
        for (let h = 0; h < Hd; h++) {
          const deq = (codes[row * Hd + h]! - zpOf(row, Math.floor(h / 32))) * scales[row * 2 + Math.floor(h / 32)]!;
          expect(got[p * Hd + h]).toBeCloseTo(deq, 6);
          expect(Math.abs(deq - table[row * Hd + h]!)).toBeLessThanOrEqual(Math.abs(scales[row * 2 + Math.floor(h / 32)]!) + 1e-7);
        }
      });
      expect(report.tensors[0]).toMatchObject({ opType: 'Gather', block: { bits, size: 32, count: V * 2 } });
    }
  });

  it('a table GatherBlockQuantized cannot take (gathered along axis 1) is stored int8 as without --bits, and the report says why', async () => {
    const table = randoms(rng, 40 * 64);
    const b = new GraphBuilder({ opset: 17 });
    const ids = b.input('ids', DataType.INT64, [3]);
    b.node('Gather', [b.initializer('table', table, [40, 64]), ids], { attrs: { axis: 1 }, outputs: ['y'] });
    b.output('y', DataType.FLOAT, [40, 3]);
    const { model, report } = quantizeModel(b.build(), { bits: 4 });
    expect(opTypes(model)).toEqual(['Gather', 'DequantizeLinear']);
    expect(report.decisions[0]).toMatchObject({ status: 'quantized', note: /int8, not GatherBlockQuantized: Gather along axis 1/ });
    expect(report.tensors[0]!.dtype).toBe('int8');
    expect(report.tensors[0]!.block).toBeUndefined();
    const got = await runModel(model, { ids: new ort.Tensor('int64', BigInt64Array.of(0n, 5n, 63n), [3]) });
    const scale = report.tensors[0]!.scale as number;
    for (let r = 0; r < 40; r++) for (const [j, col] of [0, 5, 63].entries()) expect(Math.abs(got[r * 3 + j]! - table[r * 64 + col]!)).toBeLessThanOrEqual(scale / 2 + 1e-6);
  });

  it('a builder BERT: every MatMul, the pooler Gemm and both big tables quantized; runs; logits close', async () => {
    const fp32 = smallBertModel(1);
    const feeds = bertFeeds(2, 12);
    const { model, report } = quantizeModel(fp32, { bits: 4 });
    expect(checkModel(model)).toEqual([]);
    const ops = opTypes(model);
    expect(ops.filter((o) => o === 'com.microsoft.MatMulNBits')).toHaveLength(13);
    expect(ops.filter((o) => o === 'com.microsoft.GatherBlockQuantized')).toHaveLength(2);
    expect(report.tensors.every((t) => t.dtype === 'int4' && t.block?.size === 32)).toBe(true);
    expect(sqnrDb(await runModel(fp32, feeds), await runModel(model, feeds))).toBeGreaterThan(12);
  });

  it('bad block settings are rejected with the accepted values', () => {
    const m = matmulModel();
    expect(() => quantizeModel(m, { bits: 2 })).toThrow(/--bits 2: expected 4 or 8/);
    expect(() => quantizeModel(m, { bits: 4, blockSize: 48 })).toThrow(/--block-size 48: expected a power of two >= 16/);
    expect(() => quantizeModel(m, { bits: 4, accuracyLevel: 2 })).toThrow(/--accuracy-level 2: expected 0, 1 or 4/);
    expect(() => quantizeModel(m, { accuracyLevel: 4 })).toThrow(/--accuracy-level needs --bits/);
    expect(() => quantizeModel(m, { bits: 4, perChannel: true })).toThrow(/--per-channel does not apply to --bits/);
    expect(() => quantizeModel(m, { bits: 4, reduceRange: true })).toThrow(/--reduce-range does not apply to --bits/);
  });
});
