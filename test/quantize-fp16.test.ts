import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SeededRandom } from '../src/architectures/random.js';
import { checkModel, DataType, decodeModel, encodeModel, GraphBuilder, halfToFloat, tensorDims, elementCount, valueElemType, makeTensor, type ModelProto } from '../src/onnx/index.js';
import { convertToFloat16, FP16_CPU_KERNEL_OPS } from '../src/quantize/fp16/convert.js';
import { floatToHalf, toHalfArray } from '../src/quantize/fp16/half.js';
import { quantizeModel } from '../src/quantize/index.js';
import { ort } from '../src/runtime/session.js';
import { bertFeeds, runModel, smallBertModel, sqnrDb } from './quantize-fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'fp16-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('float16 rounding', () => {
  it('every finite float16 survives a round trip; other values go to the nearest, ties to even', () => {
    for (let h = 0; h < 0x10000; h++) {
      if ((h & 0x7c00) === 0x7c00) continue; // Inf/NaN
      expect(floatToHalf(halfToFloat(h))).toBe(h);
    }
    expect(floatToHalf(1 + 2 ** -11)).toBe(0x3c00); // halfway between 1 and 1+2^-10: even (1)
    expect(floatToHalf(1 + 3 * 2 ** -11)).toBe(0x3c02); // halfway: even (1+2^-9)
    expect(floatToHalf(2 ** -25)).toBe(0); // half the smallest subnormal: ties to even (0)
    expect(floatToHalf(3 * 2 ** -25)).toBe(2); // 1.5 subnormal steps: even (2)
    const rng = new SeededRandom(5);
    for (let i = 0; i < 2000; i++) {
      const x = Math.fround(rng.normal() * 10 ** rng.int(6 - 3));
      const h = floatToHalf(x);
      const err = Math.abs(halfToFloat(h) - x);
      // No neighbour is closer.
      expect(err).toBeLessThanOrEqual(Math.abs(halfToFloat(h + 1) - x));
      if (h & 0x7fff) expect(err).toBeLessThanOrEqual(Math.abs(halfToFloat(h - 1) - x));
    }
  });

  it('clamps values past the float16 range to +-65504 and counts them', () => {
    const { bits, clamped } = toHalfArray(Float32Array.of(1e6, -3.4e38, 65504, -1));
    expect(clamped).toBe(2);
    expect(Array.from(bits, halfToFloat)).toEqual([65504, -65504, 65504, -1]);
  });
});

/** No Cast reads another Cast's output (a pair that cancels, or a round trip). */
function castChains(model: ModelProto): string[] {
  const castOut = new Set(model.graph!.node!.filter((n) => n.opType === 'Cast').map((n) => n.output![0]!));
  return model.graph!.node!.filter((n) => n.opType === 'Cast' && castOut.has(n.input![0]!)).map((n) => n.name!);
}

function ioTypes(model: ModelProto): number[] {
  return [...model.graph!.input!, ...model.graph!.output!].map((v) => valueElemType(v)!);
}

/**
 * What PyTorch's exporter writes: decomposed LayerNorm (ReduceMean, Sub, Pow, Sqrt, Div), a
 * mask filled with -3.4e38 (past float16's range), exact Erf GELU, Constant-node weights.
 */
function exporterStyleModel(): ModelProto {
  const rng = new SeededRandom(11);
  const H = 64;
  const b = new GraphBuilder({ opset: 14 });
  const x = b.input('x', DataType.FLOAT, ['batch', H]);
  const mask = b.input('mask', DataType.INT64, ['batch', H]);
  const constant = (values: Float32Array, dims: number[]) =>
    b.op('Constant', [], { value: makeTensor('value', values, dims) });
  const mean = b.op('ReduceMean', [x], { axes: [-1] });
  const centered = b.op('Sub', [x, mean]);
  const variance = b.op('ReduceMean', [b.op('Pow', [centered, b.scalar(2, 'two')])], { axes: [-1] });
  const normed = b.op('Div', [centered, b.op('Sqrt', [b.op('Add', [variance, b.scalar(1e-12, 'eps')])])]);
  const W = constant(Float32Array.from({ length: H * H }, () => rng.normal() * 0.1), [H, H]);
  const h = b.op('MatMul', [normed, W]);
  const gelu = b.op('Mul', [b.op('Mul', [h, b.op('Add', [b.op('Erf', [b.op('Div', [h, b.scalar(Math.SQRT2, 'sqrt2')])]), b.scalar(1, 'one')])]), b.scalar(0.5, 'half')]);
  const fill = b.op('Mul', [b.op('Sub', [b.scalar(1, 'one_m'), b.op('Cast', [mask], { to: DataType.FLOAT })]), b.scalar(-3.4e38, 'fmin')]);
  b.node('Softmax', [b.op('Add', [gelu, fill])], { attrs: { axis: -1 }, outputs: ['probs'] });
  b.output('probs', DataType.FLOAT, ['batch', H]);
  return b.build();
}

describe('convertToFloat16', () => {
  const feedsX = () => {
    const rng = new SeededRandom(2);
    const mask = new BigInt64Array(4 * 64).fill(1n);
    for (let r = 0; r < 4; r++) mask.fill(0n, r * 64 + 60, r * 64 + 64);
    return { x: new ort.Tensor('float32', Float32Array.from({ length: 4 * 64 }, () => rng.normal() * 3), [4, 64]), mask: new ort.Tensor('int64', mask, [4, 64]) };
  };

  for (const target of ['cpu', 'any'] as const) {
    it(`builder BERT (LayerNormalization op), target ${target}: float32 edges, float16 weights, close logits, no Cast chains`, async () => {
      const fp32 = smallBertModel(1);
      const { model, report } = convertToFloat16(fp32, { target });
      expect(checkModel(model)).toEqual([]);
      expect(ioTypes(model)).toEqual(ioTypes(fp32));
      expect(castChains(model)).toEqual([]);
      const big = model.graph!.initializer!.filter((t) => elementCount(tensorDims(t)) >= 1024);
      expect(big.length).toBeGreaterThan(10);
      expect(big.every((t) => t.dataType === DataType.FLOAT16)).toBe(true);
      // Biases under 1024 values stay float32 where float32 nodes read them (no Cast for 256 bytes).
      expect(encodeModel(model).length).toBeLessThan((target === 'any' ? 0.51 : 0.53) * encodeModel(fp32).length);
      const feeds = bertFeeds(2, 12);
      expect(sqnrDb(await runModel(fp32, feeds), await runModel(model, feeds))).toBeGreaterThan(45);
      if (target === 'any') {
        // Everything computes in float16: one Cast for the logits at the end (the mask Cast now writes float16).
        expect(report.casts.activations).toBe(1);
        expect(model.graph!.node!.find((n) => n.opType === 'Cast' && n.input![0] === 'attention_mask')!.attribute![0]!.i).toBe(DataType.FLOAT16);
      } else {
        // Only ops with a CPU float16 kernel compute in float16 (here the LayerNormalizations).
        expect(report.halfNodes).toBeGreaterThan(0);
        expect(report.keptFloat32.find((k) => k.opType === 'MatMul')?.reason).toMatch(/no float16 kernel/);
      }
    });
  }

  it('exporter-style graph (decomposed LayerNorm, -3.4e38 mask fill, Erf GELU, Constant weights), target any', async () => {
    const fp32 = exporterStyleModel();
    const { model, report } = convertToFloat16(fp32, { target: 'any' });
    expect(checkModel(model)).toEqual([]);
    expect(castChains(model)).toEqual([]);
    expect(report.clamped).toBe(1); // -3.4e38 -> -65504
    // The accuracy-sensitive ops of the decomposed LayerNorm stay float32 and say why.
    for (const op of ['Pow', 'ReduceMean', 'Sqrt']) expect(report.keptFloat32.find((k) => k.opType === op)?.reason).toMatch(/loses accuracy/);
    const byOutput = new Map(model.graph!.node!.map((n) => [n.output![0]!, n]));
    const matmul = model.graph!.node!.find((n) => n.opType === 'MatMul')!;
    const weight = model.graph!.initializer!.find((t) => t.name === matmul.input![1])!;
    expect(weight.dataType).toBe(DataType.FLOAT16); // the Constant-node weight, now float16
    expect(byOutput.get(matmul.input![0]!)?.opType).not.toBe('Cast'); // Div computes in float16 and feeds it directly
    const feeds = feedsX();
    const ref = await runModel(fp32, feeds);
    const got = await runModel(model, feeds);
    expect(sqnrDb(ref, got)).toBeGreaterThan(35);
    for (let r = 0; r < 4; r++) for (let j = 60; j < 64; j++) expect(got[r * 64 + j]).toBe(0); // masked columns stay masked
  });

  it('halfIo: float inputs and outputs become float16 (no Casts at the edges when the ends compute in float16)', async () => {
    const fp32 = exporterStyleModel();
    const { model, report } = convertToFloat16(fp32, { target: 'any', halfIo: true });
    expect(checkModel(model)).toEqual([]);
    expect(castChains(model)).toEqual([]);
    expect(ioTypes(model)).toEqual([DataType.FLOAT16, DataType.INT64, DataType.FLOAT16]);
    const feeds = feedsX();
    const ref = await runModel(fp32, feeds);
    const x16 = new ort.Tensor('float16', Uint16Array.from(feeds.x.data as Float32Array, floatToHalf), [4, 64]);
    const got = Array.from((await runModel(model, { ...feeds, x: x16 })) as unknown as Uint16Array, halfToFloat);
    expect(sqnrDb(ref, got)).toBeGreaterThan(30);
    // x feeds ReduceMean (float32) and Sub (float16): one Cast to float32 for it; Softmax's output is float16 already.
    expect(model.graph!.node!.filter((n) => n.opType === 'Cast' && n.input![0] === 'x')).toHaveLength(1);
    expect(report.casts.activations).toBeGreaterThan(0);
  });

  it('q4f16: MatMulNBits scales and GatherBlockQuantized scales become float16 when those nodes compute in float16', async () => {
    const fp32 = smallBertModel(2);
    const { model: q4 } = quantizeModel(fp32, { bits: 4 });
    const { model } = convertToFloat16(q4, { target: 'any' });
    expect(checkModel(model)).toEqual([]);
    const nbits = model.graph!.node!.filter((n) => n.opType === 'MatMulNBits');
    expect(nbits.length).toBe(13);
    for (const n of nbits) expect(model.graph!.initializer!.find((t) => t.name === n.input![2])!.dataType).toBe(DataType.FLOAT16);
    const feeds = bertFeeds(2, 12);
    expect(sqnrDb(await runModel(q4, feeds), await runModel(model, feeds))).toBeGreaterThan(35);
  });

  it('the CPU kernel list is what onnxruntime 1.30 does: LayerNormalization runs float16 as is, Add gets Casts inserted', async () => {
    for (const [op, native] of [['LayerNormalization', true], ['Add', false]] as const) {
      expect(FP16_CPU_KERNEL_OPS.includes(op)).toBe(native);
      const b = new GraphBuilder({ opset: 17 });
      const x = b.input('x', DataType.FLOAT16, [2, 8]);
      const ones = new Uint16Array(8).fill(0x3c00);
      const y = op === 'Add' ? b.op('Add', [x, x]) : b.op('LayerNormalization', [x, b.initializer('g', ones, [8], DataType.FLOAT16), b.initializer('b', new Uint16Array(8), [8], DataType.FLOAT16)], { axis: -1 });
      b.output(y, DataType.FLOAT16);
      const path = join(dir, `${op}.onnx`);
      const session = await ort.InferenceSession.create(encodeModel(b.build()), { optimizedModelFilePath: path, graphOptimizationLevel: 'basic', logSeverityLevel: 3 });
      await session.release();
      const casts = decodeModel(readFileSync(path)).graph!.node!.filter((n) => n.opType === 'Cast').length;
      expect(casts === 0).toBe(native);
    }
  });
});
