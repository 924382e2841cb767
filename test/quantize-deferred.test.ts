// Large weights get their int8 values while the output is written (src/quantize/deferred.ts):
// the file and the report must be exactly what quantizing first and writing after gives.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DataType, encodeModel, GraphBuilder, loadModel, loadModelLazy, makeTensor, modelBaseDir, saveModel, tensorToFloat32, type ModelProto } from '../src/onnx/index.js';
import { DeferredWeights } from '../src/quantize/deferred.js';
import { quantizeFile, quantizeModel, type QuantizeOptions } from '../src/quantize/index.js';
import { useTempDir } from './shared-fixtures.js';

const N = 1024; // 1024 x 1024 = 1M values: past the deferral threshold (64 Ki values)

/** x [1, N] -> MatMul W1 [N, N] -> Gemm (transB=1) W2 [N, N] + C -> y: one weight stored as is, one transposed in qdq/qoperator. */
function model(nan = false): ModelProto {
  const b = new GraphBuilder({ opset: 17 });
  const x = b.input('x', DataType.FLOAT, [1, N]);
  // Columns with different ranges, so per-channel scales differ.
  const w1 = Float32Array.from({ length: N * N }, (_, i) => (((i * 7919) % 2003) / 2003 - 0.5) * (1 + (i % N) / 64));
  if (nan) w1[12345] = NaN;
  const w2 = Float32Array.from({ length: N * N }, (_, i) => Math.sin(i * 0.37) * 0.2);
  const h = b.op('MatMul', [x, b.initializer('w1', w1, [N, N])]);
  const y = b.op('Gemm', [h, b.initializer('w2', w2, [N, N]), b.initializer('c', new Float32Array(N).fill(0.5), [N])], { transB: 1 });
  b.output(y, DataType.FLOAT, [1, N]);
  return b.build();
}

const optionSets: QuantizeOptions[] = [{}, { perChannel: true }, { weightType: 'uint8' }, { format: 'qoperator' }, { format: 'qdq', perChannel: true }];

describe('deferred weights', () => {
  const dir = useTempDir('quantize-deferred-');

  it('quantizeFile writes the same model and report as quantizing in memory first', async () => {
    const input = join(dir, 'model.onnx');
    await saveModel(model(), input);
    for (const options of optionSets) {
      const out = join(dir, 'out', 'model.onnx');
      const report = await quantizeFile(input, out, { ...options, force: true });
      const eager = quantizeModel(await loadModel(input), options, { label: input });
      expect(report.tensors, JSON.stringify(options)).toEqual(eager.report.tensors);
      expect(report.tensors.every((t) => Number.isFinite(t.maxAbsError) && t.sqnrDb !== null && t.sqnrDb > 20)).toBe(true);
      const written = await loadModel(out);
      expect(Buffer.compare(Buffer.from(encodeModel(written)), Buffer.from(encodeModel(eager.model))), JSON.stringify(options)).toBe(0);
    }
  });

  it('defers the weights stored as they are and quantizes transposed ones at once', async () => {
    const input = join(dir, 'model-direct.onnx');
    await saveModel(model(), input);
    for (const [options, deferredCount] of [
      [{ format: 'qdq' }, 2], // qdq keeps the Gemm and its transB: nothing is transposed
      [{}, 1], // ms and qoperator store W2 transposed
    ] as Array<[QuantizeOptions, number]>) {
      const lazy = await loadModelLazy(input);
      const deferral = new DeferredWeights({ label: input, baseDir: modelBaseDir(input) });
      const { model: q, report } = quantizeModel(lazy, options, { label: input, baseDir: modelBaseDir(input), weightQuantizer: deferral.quantizer });
      const deferred = deferral.bytes(q, report);
      expect(deferred.size).toBe(deferredCount);
      // Until written, the placeholders hold zeros and the report has no error for them.
      expect(report.tensors.filter((t) => Number.isNaN(t.maxAbsError))).toHaveLength(deferredCount);
      const out = join(dir, `direct-${deferredCount}.onnx`);
      await saveModel(q, out, { deferred });
      expect(report.tensors.every((t) => Number.isFinite(t.maxAbsError))).toBe(true);
      const eager = quantizeModel(await loadModel(input), options);
      expect(Buffer.compare(Buffer.from(encodeModel(await loadModel(out))), Buffer.from(encodeModel(eager.model)))).toBe(0);
    }
  });

  it('also through the external-data writer', async () => {
    const input = join(dir, 'model-ext.onnx');
    await saveModel(model(), input);
    const out = join(dir, 'ext-out', 'model.onnx');
    await quantizeFile(input, out, { externalData: true });
    expect(existsSync(out + '.data')).toBe(true);
    const eager = quantizeModel(await loadModel(input), {});
    const back = await loadModel(out);
    for (const t of eager.model.graph!.initializer!) {
      const mine = back.graph!.initializer!.find((u) => u.name === t.name)!;
      expect(Buffer.compare(Buffer.from(mine.rawData ?? []), Buffer.from(t.rawData ?? [])), t.name!).toBe(0);
    }
  });

  it('a NaN in a deferred weight is refused with the tensor named, and nothing is written', async () => {
    const input = join(dir, 'model-nan.onnx');
    await saveModel(model(true), input);
    const folder = join(dir, 'nan-out');
    await expect(quantizeFile(input, join(folder, 'model.onnx'))).rejects.toThrow(/model-nan\.onnx: tensor w1: holds NaN at flat index 12345; weights with NaN\/Inf cannot be quantized/);
    expect(existsSync(folder) ? readdirSync(folder) : []).toEqual([]);
  });

  it('saveModel refuses a deferred tensor it never met (nothing written)', async () => {
    const b = new GraphBuilder({ opset: 17 });
    b.output(b.op('Relu', [b.input('x', DataType.FLOAT, [2])]), DataType.FLOAT, [2]);
    const m = b.build();
    m.graph!.initializer!.push(makeTensor('unused', new Float32Array(4), [4]));
    const out = join(dir, 'never.onnx');
    await expect(saveModel(m, out, { deferred: new Map([[new ArrayBuffer(8), () => undefined]]) })).rejects.toThrow(/deferred tensor was not written/);
    expect(existsSync(out)).toBe(false);
    expect(tensorToFloat32(m.graph!.initializer![0]!)).toEqual(new Float32Array(4));
  });
});
