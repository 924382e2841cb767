import { describe, expect, it } from 'vitest';
import { inspectModel } from '../src/inspect/index.js';
import { checkModel, DataType, encodeModel, GraphBuilder, hoistConstants, opsetVersion, toNumber, type ModelProto } from '../src/onnx/index.js';
import { upgradeOpset } from '../src/onnx/upgrade/index.js';
import { quantizeModel } from '../src/quantize/index.js';
import { openSession, type ort } from '../src/runtime/session.js';
import { sqnrDb } from './quantize-fixtures.js';
import { floatFeed, opset9ConvModel, opset9MatMulModel } from './quantize-prep-fixtures.js';

async function run(model: ModelProto, feeds: Record<string, ort.Tensor>): Promise<Float32Array> {
  const { session } = await openSession(encodeModel(model), { threads: 1 });
  try {
    return (await session.run(feeds)).probs!.data as Float32Array;
  } finally {
    await session.release();
  }
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

const cases = [
  { name: 'MatMul model', build: opset9MatMulModel, feeds: floatFeed('x', [2, 5, 32], 7) },
  { name: 'Conv model', build: opset9ConvModel, feeds: floatFeed('x', [1, 3, 16, 16], 8) },
];

describe('graph preparation: Constant weights and opset conversion', () => {
  it('inspect counts weights held in Constant nodes as parameters', () => {
    const s = inspectModel(opset9MatMulModel());
    expect(s.initializers).toBe(1); // the eps scalar
    expect(s.constantNodes).toBe(4);
    expect(s.parameters).toBe(32 * 64 + 64 + 64 * 32 + 32 * 4);
  });

  it('hoists Constant nodes into initializers without changing the model it was given', () => {
    const model = opset9ConvModel();
    const nodesBefore = model.graph!.node!.length;
    const { model: hoisted, hoisted: n } = hoistConstants(model);
    expect(n).toBe(8);
    expect(model.graph!.node!.length).toBe(nodesBefore);
    expect(hoisted.graph!.node!.some((x) => x.opType === 'Constant')).toBe(false);
    expect(hoisted.graph!.initializer!.map((t) => t.name)).toContain('conv1.weight');
    expect(checkModel(hoisted)).toEqual([]);
  });

  for (const c of cases) {
    it(`${c.name}: opset 9 converted to 11 and 13 gives the same outputs in onnxruntime`, async () => {
      const model = c.build();
      const reference = await run(model, c.feeds);
      for (const target of [11, 13]) {
        const result = upgradeOpset(model, target);
        if ('refusal' in result) throw new Error(JSON.stringify(result.refusal));
        expect(opsetVersion(result.model)).toBe(target);
        expect(toNumber(result.model.irVersion)).toBeGreaterThanOrEqual(target === 11 ? 6 : 7);
        expect(checkModel(result.model)).toEqual([]);
        expect(maxAbsDiff(await run(result.model, c.feeds), reference)).toBeLessThan(1e-6);
      }
      expect(opsetVersion(model)).toBe(9); // the input is left alone
    });

    it(`${c.name}: quantized from opset 9 with Constant weights, valid and close to fp32`, async () => {
      const model = c.build();
      const reference = await run(model, c.feeds);
      const { model: q, report } = quantizeModel(model);
      expect(report.preparation.constantsHoisted).toBeGreaterThan(0);
      expect(report.preparation.opsetUpgrade).toMatchObject({ from: 9, to: 11 });
      expect(report.tensors.length).toBeGreaterThan(0);
      expect(report.tensors.every((t) => t.opType === 'MatMul' || t.opType === 'Gemm')).toBe(true);
      expect(checkModel(q)).toEqual([]);
      expect(sqnrDb(reference, await run(q, c.feeds))).toBeGreaterThan(25);
    });
  }

  it('opset 8 (BatchNormalization spatial, Upsample-7 linear with scales attribute, TopK k, ReduceSum axes) to 13: same outputs', async () => {
    const b = new GraphBuilder({ opset: 8 });
    const x = b.input('x', DataType.FLOAT, [1, 2, 3, 3]);
    const p = (base: string, v: number[]) => b.constant(Float32Array.from(v), [2], base);
    const bn = b.op('BatchNormalization', [x, p('s', [1.5, 0.5]), p('b', [0.1, -0.2]), p('m', [0.05, 0.1]), p('v', [0.9, 1.2])], { spatial: 1, epsilon: { float: 1e-5 } });
    const up = b.op('Upsample', [bn], { mode: 'linear', scales: { floats: [1, 1, 2, 2] } });
    const summed = b.op('ReduceSum', [up], { axes: [2], keepdims: 0 });
    const flat = b.op('Flatten', [summed], { axis: 1 });
    const [values] = b.node('TopK', [flat], { attrs: { k: 3 }, outputs: 2 });
    b.node('Identity', [values!], { outputs: ['probs'] });
    b.output('probs');
    const model = b.build();
    const feeds = floatFeed('x', [1, 2, 3, 3], 5);
    const reference = await run(model, feeds);
    const result = upgradeOpset(model, 13);
    if ('refusal' in result) throw new Error(JSON.stringify(result.refusal));
    expect(result.upgrade.rewritten).toEqual({ BatchNormalization: 1, Upsample: 1, ReduceSum: 1, TopK: 1 });
    expect(result.model.graph!.node!.map((n) => n.opType)).toContain('Resize');
    expect(checkModel(result.model)).toEqual([]);
    expect(maxAbsDiff(await run(result.model, feeds), reference)).toBeLessThan(1e-6);
  });

  it('records which rewrites were done', () => {
    const result = upgradeOpset(opset9MatMulModel(), 13);
    if ('refusal' in result) throw new Error('refused');
    expect(result.upgrade.rewritten).toEqual({ Dropout: 1, Split: 1, Clip: 1, Slice: 1, Squeeze: 1, Unsqueeze: 1, Softmax: 1 });
  });

  it('refuses, naming the op, when an op has no conversion rule', () => {
    const b = new GraphBuilder({ opset: 9 });
    const x = b.input('x', DataType.FLOAT, [1, 3, 4, 4]);
    b.node('ImageScaler', [x], { outputs: ['y'], name: 'scaler' });
    b.output('y');
    const result = upgradeOpset(b.build(), 11);
    expect(result).toMatchObject({ refusal: { node: 'scaler', opType: 'ImageScaler', from: 9, to: 11 } });
    const w = b.initializer('w', new Float32Array(32 * 32), [32, 32]);
    b.node('MatMul', [b.input('h', DataType.FLOAT, [1, 32]), w], { outputs: ['z'] });
    b.output('z');
    const { report } = quantizeModel(b.build());
    expect(report.tensors).toHaveLength(0);
    expect(report.preparation.opsetRefusal?.message).toMatch(/cannot convert opset 9 to 11: node scaler \(ImageScaler\): no rule for ImageScaler/);
  });

  it('refuses a model with local functions (their bodies would change meaning)', () => {
    const model = opset9MatMulModel();
    model.functions = [{ name: 'Helper', domain: 'local', input: ['a'], output: ['b'], node: [{ opType: 'Relu', input: ['a'], output: ['b'] }] }];
    expect(upgradeOpset(model, 11)).toMatchObject({ refusal: { reason: /model-local function local\.Helper/ } });
  });
});
