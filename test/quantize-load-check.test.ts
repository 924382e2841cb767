// The onnxruntime load check quantize runs on its temporary output before the rename: it loads a
// skeleton of the written file (large weights as external data pointing back into that file).
// It must still refuse what onnxruntime refuses, and leave no file of its own behind.
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DataType, encodeModel, GraphBuilder, loadModel, saveModel, tensorToFloat32, writeSkeletonFile, type ModelProto } from '../src/onnx/index.js';
import { loadsInOnnxruntime } from '../src/quantize/index.js';

const dir = mkdtempSync(join(tmpdir(), 'quantize-load-check-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** x [1, 256] -> MatMul with a 256 x 256 weight (256 KiB, past the skeleton's 64 KiB) -> `op`. */
function model(op = 'Relu', attrs?: Record<string, number>): ModelProto {
  const b = new GraphBuilder({ opset: 17 });
  const x = b.input('x', DataType.FLOAT, [1, 256]);
  const w = b.initializer('w', Float32Array.from({ length: 256 * 256 }, (_, i) => ((i * 7919) % 101) / 101 - 0.5), [256, 256]);
  const y = b.op(op, [b.op('MatMul', [x, w])], attrs);
  b.output(y, DataType.FLOAT, [1, 256]);
  return b.build();
}

const filesIn = (folder: string) => readdirSync(folder).sort();

describe('load check before the rename', () => {
  it('passes a valid model and removes its skeleton file', async () => {
    const folder = mkdtempSync(join(dir, 'ok-'));
    const out = join(folder, 'model.onnx');
    await saveModel(model(), out, { verify: loadsInOnnxruntime('in.onnx') });
    expect(filesIn(folder)).toEqual(['model.onnx']);
    const back = await loadModel(out);
    expect(tensorToFloat32(back.graph!.initializer![0]!)[1]).toBeCloseTo(((7919 % 101) / 101) - 0.5, 6);
  });

  it('refuses an op onnxruntime does not know (our checker lets it through): nothing written, no temp files', async () => {
    const folder = mkdtempSync(join(dir, 'unknown-op-'));
    const out = join(folder, 'model.onnx');
    await expect(saveModel(model('Relux'), out, { verify: loadsInOnnxruntime('in.onnx') })).rejects.toThrow(/in\.onnx: onnxruntime refuses the quantized model \(.*Relux.*\); nothing written/);
    expect(filesIn(folder)).toEqual([]);
  });

  it('refuses a bad attribute value on a node next to a large weight', async () => {
    const folder = mkdtempSync(join(dir, 'bad-attr-'));
    const out = join(folder, 'model.onnx');
    await expect(saveModel(model('Softmax', { axis: 7 }), out, { verify: loadsInOnnxruntime('in.onnx') })).rejects.toThrow(/onnxruntime refuses the quantized model/);
    expect(filesIn(folder)).toEqual([]);
  });

  it('refuses a weight whose bytes do not match its shape (checked through the external reference)', async () => {
    const folder = mkdtempSync(join(dir, 'short-'));
    const m = model();
    const w = m.graph!.initializer![0]!;
    w.dims = [256, 257]; // 256 x 256 values stored
    const path = join(folder, 'model.onnx.tmp');
    writeFileSync(path, encodeModel(m));
    const skeleton = writeSkeletonFile(path);
    expect(skeleton).toBeDefined(); // the large weight really goes through the external-data path
    skeleton!.remove();
    await expect(loadsInOnnxruntime('in.onnx')(path)).rejects.toThrow(/onnxruntime refuses the quantized model/);
    expect(filesIn(folder)).toEqual(['model.onnx.tmp']);
  });

  it('refuses a file whose protobuf framing is broken', async () => {
    const folder = mkdtempSync(join(dir, 'framing-'));
    const bytes = encodeModel(model());
    const path = join(folder, 'model.onnx.tmp');
    writeFileSync(path, bytes.subarray(0, bytes.length - 1000));
    await expect(loadsInOnnxruntime('in.onnx')(path)).rejects.toThrow(/in\.onnx: /);
    expect(filesIn(folder)).toEqual(['model.onnx.tmp']);
  });

  it('loads a small model (nothing large enough for the skeleton) from the file itself', async () => {
    const folder = mkdtempSync(join(dir, 'small-'));
    const b = new GraphBuilder({ opset: 17 });
    b.output(b.op('Relu', [b.input('x', DataType.FLOAT, [2])]), DataType.FLOAT, [2]);
    const path = join(folder, 'model.onnx.tmp');
    writeFileSync(path, encodeModel(b.build()));
    expect(writeSkeletonFile(path)).toBeUndefined();
    await loadsInOnnxruntime('in.onnx')(path);
    expect(filesIn(folder)).toEqual(['model.onnx.tmp']);
  });
});
