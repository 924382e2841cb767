import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { gradcheck } from '../src/autodiff/gradcheck.js';
import { loadModel, makeValueInfo, tensorDims, tensorToFloat32, DataType, type ModelProto } from '../src/onnx/index.js';
import { ort } from '../src/runtime/session.js';

const SHARED = resolve(dirname(fileURLToPath(import.meta.url)), '../../shared');
const MODEL = resolve(SHARED, 'models/sst2-student-init/model.onnx');
const hasShared = existsSync(MODEL);
if (!hasShared) console.warn(`../shared is absent (${MODEL}): skipping the whole-graph gradient test on the exported SST-2 student`);

/** The exported student with some initializers turned into graph inputs (so gradcheck can perturb them). */
function withInputs(model: ModelProto, names: string[]): { model: ModelProto; feeds: Record<string, ort.Tensor> } {
  const g = model.graph!;
  const feeds: Record<string, ort.Tensor> = {};
  const moved = g.initializer!.filter((t) => names.includes(t.name ?? ''));
  for (const t of moved) feeds[t.name!] = new ort.Tensor('float32', tensorToFloat32(t).slice(), tensorDims(t));
  return {
    model: {
      ...model,
      graph: {
        ...g,
        initializer: g.initializer!.filter((t) => !names.includes(t.name ?? '')),
        input: [...g.input!, ...moved.map((t) => makeValueInfo(t.name!, DataType.FLOAT, tensorDims(t)))],
      },
    },
    feeds,
  };
}

describe.skipIf(!hasShared)('whole-graph gradients of the exported sst2-student-init (opset 14)', () => {
  it('match finite differences for weights all along the network', async () => {
    const model = await loadModel(MODEL);
    const ids = [101, 2023, 3185, 2001, 2307, 102, 101, 6659, 999, 102, 0, 0];
    const wrt = [
      'classifier.weight',
      'bert.pooler.dense.weight',
      'onnx::MatMul_210', // FFN output
      'bert.encoder.layer.0.attention.output.LayerNorm.weight',
      'onnx::MatMul_198', // query
      'bert.embeddings.LayerNorm.bias',
      'bert.embeddings.word_embeddings.weight',
      'bert.embeddings.position_embeddings.weight',
    ];
    const { model: m, feeds } = withInputs(model, wrt);
    const B = 2;
    const S = 6;
    feeds.input_ids = new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [B, S]);
    feeds.attention_mask = new ort.Tensor('int64', BigInt64Array.from(ids.map((i) => BigInt(i ? 1 : 0))), [B, S]);
    feeds.token_type_ids = new ort.Tensor('int64', new BigInt64Array(B * S), [B, S]);
    // Random directions over whole tensors (for the word embeddings: over the rows the batch reads):
    // at initialisation single attention-weight gradients are ~1e-5, below float32 differencing noise.
    const rows = (ixs: number[]) => ixs.flatMap((r) => Array.from({ length: 128 }, (_, c) => r * 128 + c));
    const indices: Record<string, number[]> = { 'bert.embeddings.word_embeddings.weight': rows([101, 2023, 3185, 2001, 2307, 102, 6659, 999]) };
    const results = await gradcheck(m, { wrt, feeds, eps: 1e-3, directions: 2, indices });
    for (const r of results) {
      const err = r.maxAbsError / Math.max(r.scale, 1e-6);
      if (err > 1e-2) console.error(r.name, r.analytic, r.numeric);
      expect(r.scale, `${r.name}: gradient is zero, nothing checked`).toBeGreaterThan(1e-6);
      expect(err, `${r.name}: relative error ${err}`).toBeLessThan(1e-2);
    }
  });
});
