import { describe, expect, it } from 'vitest';
import { SeededRandom } from '../src/architectures/random.js';
import { UserError } from '../src/errors.js';
import {
  checkModel,
  DataType,
  encodeModel,
  GraphBuilder,
  makeTensor,
  opsetVersion,
  tensorDims,
  tensorToArray,
  type ModelProto,
  type TensorProto,
} from '../src/onnx/index.js';
import { quantizeModel, type QuantizeOptions } from '../src/quantize/index.js';
import { ort } from '../src/runtime/session.js';
import { bertFeeds, opTypes, runModel, smallBertModel, sqnrDb } from './quantize-fixtures.js';

const initializer = (m: ModelProto, name: string): TensorProto | undefined => m.graph!.initializer!.find((t) => t.name === name);

function randomMatrix(rng: SeededRandom, n: number, scale = 0.1): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal() * scale);
}

describe('quantizeModel on a builder BERT (Embedding(1000, 64), 2 layers)', () => {
  const fp32 = smallBertModel(1);
  const feeds = bertFeeds(4, 16);
  let reference: Float32Array;

  const check = async (options: QuantizeOptions, minSqnr = 30) => {
    const before = Buffer.from(encodeModel(fp32));
    const { model, report } = quantizeModel(fp32, options);
    // Pure: the input model is untouched.
    expect(Buffer.compare(Buffer.from(encodeModel(fp32)), before)).toBe(0);
    expect(checkModel(model)).toEqual([]);
    reference ??= await runModel(fp32, feeds);
    const logits = await runModel(model, feeds);
    expect(sqnrDb(reference, logits)).toBeGreaterThan(minSqnr);
    return { model, report };
  };

  it('default (ms format): int8 weights, onnxruntime runs it, logits stay close', async () => {
    const { model, report } = await check({});
    const word = 'bert.embeddings.word_embeddings.weight';
    // The embedding table keeps its shape, stored int8 (4x smaller), and no float copy remains.
    const table = initializer(model, `${word}_quantized`)!;
    expect(tensorDims(table)).toEqual([1000, 64]);
    expect(table.dataType).toBe(DataType.INT8);
    expect(table.rawData!.length).toBe(1000 * 64);
    expect(initializer(model, word)).toBeUndefined();
    // Every MatMul/Gemm with a big enough constant weight, and the big embedding tables.
    const quantized = report.decisions.filter((d) => d.status === 'quantized').map((d) => d.opType);
    expect(quantized.filter((t) => t === 'MatMul')).toHaveLength(12);
    expect(quantized.filter((t) => t === 'Gemm')).toHaveLength(1); // pooler; the 3x64 classifier is too small
    expect(quantized.filter((t) => t === 'Gather')).toHaveLength(2); // word and position tables; 2x64 token types too small
    expect(report.decisions.find((d) => d.node.startsWith('Gemm') && d.status === 'skipped')).toMatchObject({ reason: /too small \(192 elements/ });
    expect(opTypes(model)).toContain('com.microsoft.MatMulIntegerToFloat');
    expect(model.opsetImport!.some((o) => o.domain === 'com.microsoft')).toBe(true);
    // The bias Adds after the 12 weight MatMuls, and the pooler Gemm's C, become the ops' bias input.
    const withBias = model.graph!.node!.filter((n) => n.opType === 'MatMulIntegerToFloat' && n.input!.length === 7);
    expect(withBias).toHaveLength(13);
    expect(opTypes(model).filter((o) => o === 'Add').length).toBe(opTypes(fp32).filter((o) => o === 'Add').length - 12);
    for (const t of report.tensors) {
      expect(t.dtype).toBe('int8');
      expect(t.zeroPoint).toBe(0);
      expect(t.sqnrDb!).toBeGreaterThan(30);
      expect(t.bytesAfter).toBeLessThan(t.bytesBefore / 3.9);
    }
    expect(report.initializerBytes.after / report.initializerBytes.before).toBeLessThan(0.3);
  });

  it('qoperator format uses standard ops only (DynamicQuantizeLinear + MatMulInteger)', async () => {
    const { model } = await check({ format: 'qoperator' });
    const ops = opTypes(model);
    expect(ops).toContain('MatMulInteger');
    expect(ops.filter((o) => o === 'DynamicQuantizeLinear').length).toBeGreaterThan(0);
    expect(ops.some((o) => o.startsWith('com.microsoft'))).toBe(false);
    expect(model.opsetImport!.some((o) => o.domain === 'com.microsoft')).toBe(false);
    // Q, K and V read the same activation: quantized once, not three times.
    const dql = ops.filter((o) => o === 'DynamicQuantizeLinear').length;
    expect(dql).toBeLessThan(ops.filter((o) => o === 'MatMulInteger').length);
  });

  it('qdq format: DequantizeLinear feeding the original float ops', async () => {
    const { model } = await check({ format: 'qdq' });
    const ops = opTypes(model);
    expect(ops).not.toContain('MatMulInteger');
    expect(ops).toContain('DequantizeLinear');
    expect(ops.filter((o) => o === 'Gemm')).toHaveLength(2);
    expect(ops.some((o) => o.startsWith('com.microsoft'))).toBe(false);
  });

  it('DynamicQuantizeMatMul variant of the ms format', async () => {
    const { model } = await check({ format: 'ms', msOp: 'DynamicQuantizeMatMul' });
    expect(opTypes(model)).toContain('com.microsoft.DynamicQuantizeMatMul');
  });

  for (const format of ['ms', 'qoperator', 'qdq'] as const) {
    it(`per-channel (${format}): one scale per output column, runs and stays close`, async () => {
      const { report } = await check({ format, perChannel: true });
      const query = report.tensors.find((t) => t.name === 'bert.encoder.layer.0.attention.self.query.weight')!;
      expect(query.axis).toBe(1);
      expect(query.scale).toHaveLength(64);
      const pooler = report.tensors.find((t) => t.name === 'bert.pooler.dense.weight')!;
      expect(pooler.axis).toBe(0); // Gemm transB=1: [out, in]
      const table = report.tensors.find((t) => t.name === 'bert.embeddings.word_embeddings.weight')!;
      expect(table.axis).toBe(1);
      expect(table.scale).toHaveLength(64);
    });
  }

  it('uint8 asymmetric and reduce-range weights', async () => {
    const { model, report } = await check({ weightType: 'uint8' });
    expect(report.tensors.every((t) => t.dtype === 'uint8')).toBe(true);
    expect(report.tensors.some((t) => t.zeroPoint !== 0)).toBe(true);
    expect(initializer(model, 'bert.embeddings.word_embeddings.weight_quantized')!.dataType).toBe(DataType.UINT8);
    const reduced = await check({ reduceRange: true }, 25);
    for (const t of reduced.report.tensors) {
      const q = tensorToArray(initializer(reduced.model, t.quantizedName)!) as Int8Array;
      expect(Math.max(...q.subarray(0, 4096).map(Math.abs))).toBeLessThanOrEqual(64);
    }
    await check({ symmetric: false, perChannel: true, format: 'qoperator' });
    await check({ weightType: 'uint8', perChannel: true });
    await check({ weightType: 'uint8', perChannel: true, format: 'qdq' });
  });

  it('--exclude-nodes and --include-nodes pick nodes by name, and unknown names are errors with suggestions', () => {
    const matmuls = fp32.graph!.node!.filter((n) => n.opType === 'MatMul').map((n) => n.name!);
    const { model, report } = quantizeModel(fp32, { excludeNodes: [matmuls[0]!] });
    expect(report.decisions.find((d) => d.node === matmuls[0])).toMatchObject({ status: 'skipped', reason: 'excluded by --exclude-nodes' });
    expect(model.graph!.node!.find((n) => n.name === matmuls[0])!.opType).toBe('MatMul');

    const only = quantizeModel(fp32, { includeNodes: [matmuls[1]!] }).report;
    expect(only.decisions.filter((d) => d.status === 'quantized').map((d) => d.node)).toEqual([matmuls[1]]);
    expect(only.tensors).toHaveLength(1);

    const typo = matmuls[0]!.replace('MatMul', 'MatMull');
    expect(() => quantizeModel(fp32, { excludeNodes: [typo] }, { label: 'm.onnx' })).toThrow(UserError);
    expect(() => quantizeModel(fp32, { excludeNodes: [typo] }, { label: 'm.onnx' })).toThrow(
      new RegExp(`^m\\.onnx: --exclude-nodes: no node named "${typo}"; nearest: "${matmuls[0]}"`),
    );
    expect(() => quantizeModel(fp32, { includeNodes: ['nope'] })).toThrow(/--include-nodes: no node named "nope"/);
  });

  it('rejects options it does not support, clearly', () => {
    expect(() => quantizeModel(fp32, { bits: 5 })).toThrow(/--bits 5: expected 4 or 8/);
    expect(() => quantizeModel(fp32, { mode: 'static' })).toThrow(/--mode static is asynchronous \(calibration runs the model\): use quantizeModelStatic/);
    expect(() => quantizeModel(fp32, { format: 'onnx' })).toThrow(/--format onnx: unknown format \(expected ms, qoperator, qdq\)/);
    expect(() => quantizeModel(fp32, { weightType: 'int4' })).toThrow(/--weight-type int4/);
    expect(() => quantizeModel(fp32, { opTypes: ['Softmax'] })).toThrow(/--op-types Softmax: no quantization rule.*MatMul, Gemm, Gather, Conv/);
  });

  it('reports why nodes are skipped: activations, too small, op type filter', () => {
    const { report } = quantizeModel(fp32, { opTypes: ['Gather'] });
    expect(report.decisions.every((d) => d.opType === 'Gather')).toBe(true);
    const reasons = report.decisions.filter((d) => d.status === 'skipped').map((d) => (d as { reason: string }).reason);
    expect(reasons).toContain('weight bert.embeddings.token_type_embeddings.weight is too small (128 elements < --min-elements 1024)');
    const all = quantizeModel(fp32, { minElements: 0 }).report;
    // Attention score MatMuls read two activations.
    expect(all.decisions.filter((d) => d.status === 'skipped' && /is not a constant/.test(d.reason))).toHaveLength(4 + 1);
    expect(all.tensors.map((t) => t.name)).toContain('classifier.weight');
  });
});

describe('quantizeModel edge cases on hand-built graphs', () => {
  const rng = new SeededRandom(7);

  /** y = x @ W (+ more), x: [2, 64]. */
  function matmulGraph(build: (b: GraphBuilder, x: string) => void, opset = 17): ModelProto {
    const b = new GraphBuilder({ opset });
    const x = b.input('x', DataType.FLOAT, [2, 64]);
    build(b, x);
    return b.build();
  }
  const xFeed = () => ({ x: new ort.Tensor('float32', Float32Array.from({ length: 128 }, (_, i) => Math.sin(i)), [2, 64]) });

  it('a weight shared by two MatMuls is quantized once; shared with a float op it is skipped', async () => {
    const shared = matmulGraph((b, x) => {
      const w = b.initializer('W', randomMatrix(rng, 64 * 64), [64, 64]);
      const h = b.op('MatMul', [x, w], undefined, { name: 'first' });
      b.node('MatMul', [h, w], { outputs: ['y'], name: 'second' });
      b.output('y', DataType.FLOAT, [2, 64]);
    });
    const { model, report } = quantizeModel(shared, { format: 'qoperator' });
    expect(report.tensors).toHaveLength(1);
    expect(report.tensors[0]!.nodes).toEqual(['first', 'second']);
    expect(model.graph!.initializer!.filter((t) => t.dataType === DataType.INT8)).toHaveLength(2); // weight + zero point
    expect(sqnrDb(await runModel(shared, xFeed()), await runModel(model, xFeed()))).toBeGreaterThan(30);

    const mixed = matmulGraph((b, x) => {
      const w = b.initializer('W', randomMatrix(rng, 64 * 64), [64, 64]);
      const h = b.op('MatMul', [x, w], undefined, { name: 'mm' });
      b.node('Add', [h, w], { outputs: ['y'], name: 'add' }); // broadcast [2,64] + [64,64] is invalid, but the graph is only planned
      b.output('y');
    });
    const skipped = quantizeModel(mixed).report;
    expect(skipped.tensors).toHaveLength(0);
    expect(skipped.decisions).toEqual([{ node: 'mm', opType: 'MatMul', status: 'skipped', reason: 'shared weight W: also read by add (Add), which stays float' }]);
  });

  it('folds a MatMul bias Add into the ms op only when nothing else reads the MatMul output', async () => {
    const build = (alsoOutput: boolean) =>
      matmulGraph((b, x) => {
        const w = b.initializer('W', randomMatrix(rng, 64 * 32), [64, 32]);
        const h = b.node('MatMul', [x, w], { outputs: ['h'], name: 'mm' })[0]!;
        b.node('Add', [b.initializer('bias', randomMatrix(rng, 32), [32]), h], { outputs: ['y'], name: 'bias_add' });
        b.output('y', DataType.FLOAT, [2, 32]);
        if (alsoOutput) b.output('h', DataType.FLOAT, [2, 32]);
      });
    for (const alsoOutput of [false, true]) {
      const m = build(alsoOutput);
      const { model } = quantizeModel(m);
      expect(checkModel(model)).toEqual([]);
      expect(opTypes(model).includes('Add')).toBe(alsoOutput);
      expect(sqnrDb(await runModel(m, xFeed(), 'y'), await runModel(model, xFeed(), 'y'))).toBeGreaterThan(30);
    }
  });

  it('weights that are graph inputs or Constant nodes', async () => {
    const asInput = matmulGraph((b, x) => {
      const w = b.initializer('W', randomMatrix(rng, 64 * 64), [64, 64]);
      b.graph.input!.push({ name: w, type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: [{ dimValue: 64 }, { dimValue: 64 }] } } } });
      b.node('MatMul', [x, w], { outputs: ['y'], name: 'mm' });
      b.output('y');
    });
    expect(quantizeModel(asInput).report.decisions[0]).toMatchObject({ status: 'skipped', reason: /graph input/ });

    const constant = matmulGraph((b, x) => {
      b.node('Constant', [], { outputs: ['W'], attrs: { value: makeTensor('W', randomMatrix(rng, 64 * 32), [64, 32]) }, name: 'const_w' });
      b.node('MatMul', [x, 'W'], { outputs: ['y'], name: 'mm' });
      b.output('y', DataType.FLOAT, [2, 32]);
    });
    const { model, report } = quantizeModel(constant);
    expect(report.tensors.map((t) => t.name)).toEqual(['W']);
    expect(opTypes(model)).not.toContain('Constant');
    expect(checkModel(model)).toEqual([]);
    expect(sqnrDb(await runModel(constant, xFeed()), await runModel(model, xFeed()))).toBeGreaterThan(30);
  });

  for (const format of ['ms', 'qoperator', 'qdq'] as const) {
    it(`Gemm with alpha, beta, C and transB=0/1 matches float (${format})`, async () => {
      for (const [transB, alpha, beta, cDims] of [
        [1, 1, 1, [48]],
        [1, 1, 1, [2, 48]],
        [0, 1, 1, [1, 48]],
        [0, 0.5, 2, [48]],
        [1, 2, 1, undefined],
        [0, 1, 0.25, [2, 48]],
      ] as const) {
        const withC = cDims !== undefined;
        const m = matmulGraph((b, x) => {
          const w = b.initializer('W', randomMatrix(rng, 64 * 48), transB ? [48, 64] : [64, 48]);
          const c = cDims ? [b.initializer('C', randomMatrix(rng, (cDims as readonly number[]).reduce((p, q) => p * q, 1)), [...cDims])] : [];
          b.node('Gemm', [x, w, ...c], { outputs: ['y'], name: 'gemm', attrs: { transB, alpha: { float: alpha }, beta: { float: beta } } });
          b.output('y', DataType.FLOAT, [2, 48]);
        });
        for (const perChannel of [false, true]) {
          const { model, report } = quantizeModel(m, { format, perChannel });
          expect(report.tensors).toHaveLength(1);
          expect(checkModel(model)).toEqual([]);
          const got = await runModel(model, xFeed());
          expect(sqnrDb(await runModel(m, xFeed()), got), `transB=${transB} alpha=${alpha} beta=${beta} C=${cDims} perChannel=${perChannel}`).toBeGreaterThan(30);
          if (format === 'ms') expect(opTypes(model).includes('Add')).toBe(withC && !(alpha === 1 && beta === 1 && cDims.length === 1));
        }
      }
    });
  }

  it('Gather along axis 1 of a constant table, and per-channel refusing the last axis', async () => {
    const m = (() => {
      const b = new GraphBuilder({ opset: 17 });
      const idx = b.input('idx', DataType.INT64, [3]);
      const table = b.initializer('T', randomMatrix(rng, 40 * 50), [40, 50]);
      b.node('Gather', [table, idx], { outputs: ['y'], attrs: { axis: 1 }, name: 'g' });
      b.output('y', DataType.FLOAT, [40, 3]);
      return b.build();
    })();
    const feeds = { idx: new ort.Tensor('int64', BigInt64Array.of(0n, 7n, 49n), [3]) };
    const { model } = quantizeModel(m);
    expect(sqnrDb(await runModel(m, feeds), await runModel(model, feeds))).toBeGreaterThan(30);
    expect(quantizeModel(m, { perChannel: true }).report.decisions[0]).toMatchObject({ status: 'skipped', reason: /per-channel needs/ });
  });

  it('NaN or Inf in a weight is an error naming the tensor', () => {
    const m = matmulGraph((b, x) => {
      const data = randomMatrix(rng, 64 * 64);
      data[100] = NaN;
      const w = b.initializer('enc.bad_weight', data, [64, 64]);
      b.node('MatMul', [x, w], { outputs: ['y'], name: 'mm' });
      b.output('y');
    });
    expect(() => quantizeModel(m, {}, { label: 'bad.onnx' })).toThrow(/^bad\.onnx: tensor enc\.bad_weight: holds NaN at flat index 100/);
  });

  it('per-channel DequantizeLinear needs opset 13: an older model is converted up first', () => {
    const m = matmulGraph((b, x) => {
      const w = b.initializer('W', randomMatrix(rng, 64 * 64), [64, 64]);
      b.node('MatMul', [x, w], { outputs: ['y'], name: 'mm' });
      b.output('y');
    }, 12);
    const qdq = quantizeModel(m, { format: 'qdq', perChannel: true });
    expect(qdq.report.decisions[0]).toMatchObject({ status: 'quantized' });
    expect(qdq.report.preparation.opsetUpgrade).toMatchObject({ from: 12, to: 13 });
    expect(opsetVersion(qdq.model)).toBe(13);
    // MatMulInteger takes per-column zero points at opset 10: no conversion needed.
    const qop = quantizeModel(m, { format: 'qoperator', perChannel: true });
    expect(qop.report.tensors).toHaveLength(1);
    expect(qop.report.preparation.opsetUpgrade).toBeNull();
  });
});
