import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { SeededRandom } from '../src/architectures/random.js';
import { createTrainer, type TrainBatch } from '../src/distill/trainer.js';
import { encodeModel, loadModel } from '../src/onnx/index.js';
import { ort } from '../src/runtime/session.js';

const SHARED = resolve(dirname(fileURLToPath(import.meta.url)), '../../shared');
const MODEL = resolve(SHARED, 'models/sst2-student-init/model.onnx');
const hasShared = existsSync(MODEL);
if (!hasShared) console.warn(`../shared is absent (${MODEL}): skipping the trainer tests on the exported SST-2 student`);

function batch(rng: SeededRandom, size: number, seq: number): TrainBatch & { labels: number[]; teacherLogits: Float32Array } {
  const ids = new BigInt64Array(size * seq);
  const mask = new BigInt64Array(size * seq);
  const labels: number[] = [];
  const teacher = new Float32Array(size * 2);
  for (let r = 0; r < size; r++) {
    const len = 3 + rng.int(seq - 2);
    for (let j = 0; j < len; j++) {
      ids[r * seq + j] = j === 0 ? 101n : j === len - 1 ? 102n : BigInt(1000 + rng.int(20000));
      mask[r * seq + j] = 1n;
    }
    labels.push(rng.int(2));
    teacher[2 * r] = rng.normal();
    teacher[2 * r + 1] = rng.normal();
  }
  return {
    feeds: {
      input_ids: new ort.Tensor('int64', ids, [size, seq]),
      attention_mask: new ort.Tensor('int64', mask, [size, seq]),
      token_type_ids: new ort.Tensor('int64', new BigInt64Array(size * seq), [size, seq]),
    },
    labels,
    teacherLogits: teacher,
  };
}

describe.skipIf(!hasShared)('trainer on the exported sst2-student-init', () => {
  it('row (lazy) and dense embedding updates agree for plain SGD', async () => {
    const model = await loadModel(MODEL);
    const sgd = { kind: 'sgd' as const, momentum: 0, weightDecay: 0, maxGradNorm: 0 };
    const sparse = await createTrainer(model, { loss: { kind: 'kl', temperature: 2, alpha: 0.5 }, optimizer: sgd, threads: 2 });
    const dense = await createTrainer(model, { loss: { kind: 'kl', temperature: 2, alpha: 0.5 }, optimizer: sgd, threads: 2, sparseEmbeddings: false });
    expect(sparse.graph.params.filter((p) => p.sparse).length).toBe(3);
    expect(dense.graph.params.filter((p) => p.sparse).length).toBe(0);
    expect(sparse.trainable.length).toBe(25);
    const rng = new SeededRandom(8);
    for (let i = 0; i < 2; i++) {
      const b = batch(rng, 4, 9);
      const a = await sparse.step(b, 0.5);
      const d = await dense.step(b, 0.5);
      expect(a.loss).toBeCloseTo(d.loss, 5);
      expect(a.gradNorm).toBeCloseTo(d.gradNorm, 4);
    }
    const ws = sparse.currentWeights();
    const wd = dense.currentWeights();
    const w0 = new Map(model.graph!.initializer!.map((t) => [t.name!, t]));
    for (const [name, w] of ws) {
      const other = wd.get(name)!;
      let maxDiff = 0;
      for (let i = 0; i < w.length; i++) maxDiff = Math.max(maxDiff, Math.abs(w[i]! - other[i]!));
      expect(maxDiff, name).toBeLessThan(1e-6);
      expect(w0.has(name)).toBe(true);
    }
    await sparse.release();
    await dense.release();
  });

  it('a few AdamW steps on a batch reduce its loss, and the trained model still loads', async () => {
    const model = await loadModel(MODEL);
    const trainer = await createTrainer(model, {
      loss: { kind: 'kd', temperature: 2, alpha: 0.5 },
      optimizer: { kind: 'adamw', weightDecay: 0.01, maxGradNorm: 1 },
      threads: 2,
      dropout: 0.1,
      seed: 1,
    });
    // Dropout found in the exporter's decomposed graph as in HF's module: embeddings, attention
    // probabilities, attention output, FFN output, classifier input.
    expect(trainer.graph.dropout.map((d) => d.kind).sort()).toEqual(['attention', 'classifier', 'embeddings', 'hidden', 'hidden']);
    const b = batch(new SeededRandom(2), 16, 12);
    const losses: number[] = [];
    for (let i = 0; i < 20; i++) losses.push((await trainer.step(b, 2e-3)).loss);
    expect(losses.at(-1)!).toBeLessThan(losses[0]! * 0.8);
    const trained = trainer.inferenceModel();
    expect(trained.graph!.node!.length).toBe(model.graph!.node!.length);
    const session = await ort.InferenceSession.create(encodeModel(trained));
    const out = await session.run(b.feeds);
    expect(out.logits!.dims).toEqual([16, 2]);
    await trainer.release();
  });
});
