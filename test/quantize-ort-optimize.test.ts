import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SeededRandom } from '../src/architectures/random.js';
import { checkModel, DataType, GraphBuilder, loadModel, saveModel } from '../src/onnx/index.js';
import { toHalfArray } from '../src/quantize/fp16/half.js';
import { openSession, ort } from '../src/runtime/session.js';
import { cli } from './cli-run.js';
import { sqnrDb } from './quantize-fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'ort-optimize-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * What a PyTorch export without constant folding looks like: each Linear's weight reaches its
 * MatMul through a Transpose of the stored [out, in] tensor, and a float16 weight through a Cast
 * and a Mul by a constant. No MatMul reads an initializer directly, so there is nothing to quantize as is.
 */
let made = 0;
async function unfoldedModel(): Promise<string> {
  const r = new SeededRandom(7);
  const b = new GraphBuilder({ opset: 17 });
  const x = b.input('x', DataType.FLOAT, ['batch', 'sequence', 64]);
  const w1 = b.initializer('linear1.weight', Float32Array.from({ length: 96 * 64 }, () => r.normal() * 0.1), [96, 64]);
  const b1 = b.initializer('linear1.bias', Float32Array.from({ length: 96 }, () => r.normal() * 0.1), [96]);
  // Stored in float16 and cast up, as some exporters keep half-precision weights.
  const w2Half = toHalfArray(Float32Array.from({ length: 96 * 32 }, () => r.normal() * 0.1)).bits;
  const w2 = b.op('Cast', [b.initializer('linear2.weight', w2Half, [96, 32], DataType.FLOAT16)], { to: DataType.FLOAT });
  const h = b.op('Relu', [b.op('Add', [b.op('MatMul', [x, b.op('Transpose', [w1], { perm: [1, 0] })]), b1])]);
  const y = b.op('MatMul', [h, b.op('Mul', [w2, b.scalar(0.5)])]);
  b.output(b.op('Identity', [y], undefined, { name: 'out_identity' }), DataType.FLOAT);
  const path = join(dir, `unfolded-${made++}.onnx`);
  await saveModel(b.build(), path);
  return path;
}

function input(seed: number): Record<string, ort.Tensor> {
  const r = new SeededRandom(seed);
  return { x: new ort.Tensor('float32', Float32Array.from({ length: 2 * 5 * 64 }, () => r.normal()), [2, 5, 64]) };
}

async function runFirst(path: string, feeds: Record<string, ort.Tensor>): Promise<Float32Array> {
  const { session } = await openSession(path, { graphOptimizationLevel: 'disabled' });
  try {
    const out = await session.run(feeds);
    return out[session.outputNames[0]!]!.data as Float32Array;
  } finally {
    await session.release();
  }
}

describe('quantize --ort-optimize', () => {
  it('constant folding by onnxruntime makes weights behind Transpose/Mul quantizable', async () => {
    const model = await unfoldedModel();
    const plain = await cli('quantize', model, '-o', join(dir, 'plain.onnx'));
    expect(plain.code).toBe(6);
    expect(existsSync(join(dir, 'plain.onnx'))).toBe(false);

    const out = join(dir, 'optimized-int8.onnx');
    const res = await cli('quantize', model, '-o', out, '--ort-optimize', '--json');
    expect(res.code, res.stderr).toBe(0);
    const report = JSON.parse(res.stdout);
    const r = report.report ?? report;
    // Folded: the Transpose, Cast and Mul of constants; eliminated: the Identity before the output.
    expect(r.preparation.ortOptimize).toMatchObject({ level: 'basic', nodesBefore: 8, nodesAfter: 4, opTypeChanges: { Cast: -1, Identity: -1, Mul: -1, Transpose: -1 } });
    expect(r.tensors.map((t: { opType?: string }) => t)).toHaveLength(2);
    expect(r.files.ratio).toBeLessThan(0.45);

    // The written model: valid, loads, and computes what the fp32 input does, up to int8 error.
    const written = await loadModel(out);
    expect(() => checkModel(written)).not.toThrow();
    const feeds = input(3);
    const [ref, got] = [await runFirst(model, feeds), await runFirst(out, feeds)];
    expect(sqnrDb(ref, got)).toBeGreaterThan(25);
    // The input file is untouched and no temp folder is left behind.
    expect(readFileSync(model).length).toBeGreaterThan(0);

    const text = await cli('quantize', model, '-o', join(dir, 'text.onnx'), '--ort-optimize');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/Prepared: onnxruntime basic optimizations: \d+ -> \d+ nodes \(-1 Cast, -1 Identity, -1 Mul, -1 Transpose\)/);
  });

  it('reads weights onnxruntime leaves in the input\'s external data file', async () => {
    // One weight read directly (onnxruntime keeps its external reference, relative to the input's
    // folder), one behind a Transpose (folded into a new inline initializer).
    const r = new SeededRandom(9);
    const b = new GraphBuilder({ opset: 17 });
    const x = b.input('x', DataType.FLOAT, ['batch', 64]);
    const direct = b.initializer('direct.weight', Float32Array.from({ length: 64 * 48 }, () => r.normal() * 0.1), [64, 48]);
    const stored = b.initializer('stored.weight', Float32Array.from({ length: 32 * 48 }, () => r.normal() * 0.1), [32, 48]);
    b.output(b.op('MatMul', [b.op('MatMul', [x, direct]), b.op('Transpose', [stored], { perm: [1, 0] })]), DataType.FLOAT);
    const sub = join(dir, 'external');
    mkdirSync(sub);
    const model = join(sub, 'model.onnx');
    await saveModel(b.build(), model, { externalData: true });
    expect(existsSync(join(sub, 'model.onnx.data'))).toBe(true);
    const out = join(dir, 'external-int8.onnx');
    const res = await cli('quantize', model, '-o', out, '--ort-optimize', '--json');
    expect(res.code, res.stderr).toBe(0);
    const rep = JSON.parse(res.stdout);
    expect((rep.report ?? rep).tensors).toHaveLength(2);
    const feeds = { x: new ort.Tensor('float32', Float32Array.from({ length: 3 * 64 }, () => r.normal()), [3, 64]) };
    expect(sqnrDb(await runFirst(model, feeds), await runFirst(out, feeds))).toBeGreaterThan(25);

    // Without its data file: one line that names the model once.
    rmSync(join(sub, 'model.onnx.data'));
    const missing = await cli('quantize', model, '-o', join(dir, 'missing-int8.onnx'));
    expect(missing.code).toBe(2);
    expect(missing.stderr.trim()).toBe(`error: ${model}: tensor direct.weight: external data file model.onnx.data not found next to the model`);
  });

  it('works under the accuracy guard (tensor outputs) and in static mode', async () => {
    const model = await unfoldedModel();
    const guarded = await cli('quantize', model, '-o', join(dir, 'guarded.onnx'), '--ort-optimize', '--min-sqnr', '20', '--json');
    expect(guarded.code, guarded.stderr).toBe(0);
    const g = JSON.parse(guarded.stdout);
    expect((g.report ?? g).preparation.ortOptimize.opTypeChanges).toEqual({ Cast: -1, Identity: -1, Mul: -1, Transpose: -1 });

    const calib = join(dir, 'calib.jsonl');
    const rows = [1, 2, 3].map((s) => {
      const t = input(s).x;
      return JSON.stringify({ x: { dims: t.dims, data: Array.from(t.data as Float32Array) } });
    });
    writeFileSync(calib, rows.join('\n') + '\n');
    const stat = await cli('quantize', model, '-o', join(dir, 'static.onnx'), '--ort-optimize', '--mode', 'static', '--calibrate', calib, '--json');
    expect(stat.code, stat.stderr).toBe(0);
    const s = JSON.parse(stat.stdout);
    expect((s.report ?? s).tensors.length).toBeGreaterThanOrEqual(2);
  });

  it('refuses --dtype with it, and a model onnxruntime cannot load, in one line', async () => {
    const model = await unfoldedModel();
    const dtype = await cli('quantize', model, '-o', join(dir, 'variants'), '--dtype', 'q8', '--ort-optimize');
    expect(dtype.code).toBe(2);
    expect(dtype.stderr.trim().split('\n')).toHaveLength(1);
    expect(dtype.stderr).toMatch(/--ort-optimize goes with quantize to one model, not with --dtype/);
    const memory = await cli('quantize', model, '-o', join(dir, 'variants'), '--dtype', 'q8', '--activation-memory', '64');
    expect(memory.code).toBe(2);
    expect(memory.stderr).toMatch(/--activation-memory goes with .* not with --dtype/);

    // An op onnxruntime has no kernel for: our loader reads it, onnxruntime refuses it.
    const b = new GraphBuilder({ opset: 17 });
    const x = b.input('x', DataType.FLOAT, [2, 64]);
    const w = b.initializer('w', new Float32Array(64 * 64).fill(0.01), [64, 64]);
    b.output(b.op('NoSuchOp', [b.op('MatMul', [x, w])]), DataType.FLOAT);
    const bad = join(dir, 'bad.onnx');
    await saveModel(b.build(), bad);
    const res = await cli('quantize', bad, '-o', join(dir, 'bad-int8.onnx'), '--ort-optimize');
    expect(res.code).toBe(2);
    expect(res.stderr.trim().split('\n')).toHaveLength(1);
    expect(res.stderr).toMatch(/bad\.onnx: onnxruntime cannot load this model: .*--ort-optimize needs a model onnxruntime loads/);
    expect(existsSync(join(dir, 'bad-int8.onnx'))).toBe(false);
  });
});
