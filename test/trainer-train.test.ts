import { describe, expect, it } from 'vitest';
import { buildBertClassifier, defaultBertConfig } from '../src/architectures/bert.js';
import { SeededRandom } from '../src/architectures/random.js';
import { createTrainer, trainerStateFromModel, trainerStateToModel, type TrainBatch, type TrainerOptions } from '../src/distill/trainer.js';
import { DataType, decodeModel, encodeModel, GraphBuilder, type ModelProto } from '../src/onnx/index.js';
import { ort } from '../src/runtime/session.js';

const tiny = { ...defaultBertConfig, vocabSize: 50, numLabels: 2, hiddenSize: 16, numHeads: 2, intermediateSize: 32, numLayers: 1, maxPositions: 16 };

/** Synthetic task: label 1 when the first token after [CLS] is >= 26, else 0 (needs attention to reach the pooler). */
function makeBatch(rng: SeededRandom, size: number): TrainBatch & { labels: number[] } {
  const seq = 4 + rng.int(8);
  const ids = new BigInt64Array(size * seq);
  const mask = new BigInt64Array(size * seq);
  const labels: number[] = [];
  for (let r = 0; r < size; r++) {
    const len = 3 + rng.int(seq - 2);
    ids[r * seq] = 1n;
    mask[r * seq] = 1n;
    for (let j = 1; j < len; j++) {
      ids[r * seq + j] = BigInt(2 + rng.int(48));
      mask[r * seq + j] = 1n;
    }
    labels.push(Number(ids[r * seq + 1]!) >= 26 ? 1 : 0);
  }
  return {
    feeds: {
      input_ids: new ort.Tensor('int64', ids, [size, seq]),
      attention_mask: new ort.Tensor('int64', mask, [size, seq]),
      token_type_ids: new ort.Tensor('int64', new BigInt64Array(size * seq), [size, seq]),
    },
    labels,
  };
}

const options: TrainerOptions = {
  loss: { kind: 'ce' },
  optimizer: { kind: 'adamw', weightDecay: 0.01, maxGradNorm: 1 },
  threads: 2,
};

async function accuracy(model: ModelProto, batches: Array<TrainBatch & { labels: number[] }>): Promise<number> {
  const session = await ort.InferenceSession.create(encodeModel(model));
  let right = 0;
  let total = 0;
  for (const b of batches) {
    const logits = (await session.run(b.feeds)).logits!.data as Float32Array;
    b.labels.forEach((y, i) => {
      right += Number((logits[2 * i + 1]! > logits[2 * i]! ? 1 : 0) === y);
      total++;
    });
  }
  return right / total;
}

describe('trainer on a builder BERT', () => {
  it('learns a small synthetic task; inferenceModel() gives the trained logits', async () => {
    const trainer = await createTrainer(buildBertClassifier(tiny, { seed: 5 }), options);
    expect(trainer.frozen).toEqual([]);
    expect(trainer.graph.params.filter((p) => p.sparse).map((p) => p.name)).toEqual([
      'bert.embeddings.word_embeddings.weight',
      'bert.embeddings.position_embeddings.weight',
      'bert.embeddings.token_type_embeddings.weight',
    ]);
    const rng = new SeededRandom(1);
    const held = Array.from({ length: 4 }, () => makeBatch(new SeededRandom(1000 + rng.int(1000)), 32));
    const before = await accuracy(trainer.inferenceModel(), held);
    const losses: number[] = [];
    for (let i = 0; i < 150; i++) losses.push((await trainer.step(makeBatch(rng, 32), 3e-3)).loss);
    const first = losses.slice(0, 10).reduce((a, b) => a + b) / 10;
    const last = losses.slice(-10).reduce((a, b) => a + b) / 10;
    expect(last).toBeLessThan(first * 0.3);
    const after = await accuracy(trainer.inferenceModel(), held);
    expect(after).toBeGreaterThan(0.95);
    expect(after).toBeGreaterThan(before);

    // The trained inference model computes what the trainer sees before its next update.
    const probe = held[0]!;
    const session = await ort.InferenceSession.create(encodeModel(trainer.inferenceModel()));
    const inferred = (await session.run(probe.feeds)).logits!.data as Float32Array;
    const step = await trainer.step(probe, 0);
    step.logits.forEach((v, i) => expect(Math.abs(v - inferred[i]!)).toBeLessThan(1e-4));
    await trainer.release();
  });

  it('is bit-identical for the same inputs and threads, and resumes exactly from a saved state', async () => {
    const model = buildBertClassifier(tiny, { seed: 9 });
    const run = async (steps: number, from?: ReturnType<Awaited<ReturnType<typeof createTrainer>>['exportState']>) => {
      const t = await createTrainer(model, { ...options, loss: { kind: 'kl', temperature: 2, alpha: 0.5 } });
      if (from) t.importState(from);
      const rng = new SeededRandom(3);
      for (let i = 0; i < steps; i++) {
        const b = makeBatch(rng, 8);
        const teacher = Float32Array.from({ length: 16 }, (_, k) => (k % 2 ? 1 : -1) * (b.labels[k >> 1]! ? 1 : -1));
        if (i >= (from?.step ?? 0)) await t.step({ ...b, teacherLogits: teacher }, 1e-3 * (1 + i));
      }
      const s = t.exportState();
      await t.release();
      return s;
    };
    const a = await run(4);
    const b = await run(4);
    // Through a checkpoint file's encoding.
    const half = trainerStateFromModel(decodeModel(encodeModel(trainerStateToModel(await run(2)))));
    const resumed = await run(4, half);
    expect(a.step).toBe(4);
    expect(resumed.step).toBe(4);
    for (const [name, t] of a.tensors) {
      expect(Buffer.compare(Buffer.from(t.data.buffer), Buffer.from(b.tensors.get(name)!.data.buffer)), name).toBe(0);
      expect(Buffer.compare(Buffer.from(t.data.buffer), Buffer.from(resumed.tensors.get(name)!.data.buffer)), name).toBe(0);
    }
  });

  it('inserts dropout at BERT\'s places; same seed gives the same weights, another seed others', async () => {
    const model = buildBertClassifier({ ...tiny, numLayers: 2 }, { seed: 9 });
    const run = async (seed: number) => {
      const t = await createTrainer(model, { ...options, dropout: 0.1, seed });
      const rng = new SeededRandom(3);
      for (let i = 0; i < 3; i++) await t.step(makeBatch(rng, 8), 1e-3);
      const w = t.currentWeights().get('classifier.weight')!.slice();
      const kinds = t.graph.dropout.map((d) => d.kind);
      await t.release();
      return { w, kinds };
    };
    const a = await run(1);
    const b = await run(1);
    const c = await run(2);
    expect(a.kinds.sort()).toEqual(['attention', 'attention', 'classifier', 'embeddings', 'hidden', 'hidden', 'hidden', 'hidden']);
    expect(Buffer.compare(Buffer.from(a.w.buffer), Buffer.from(b.w.buffer))).toBe(0);
    expect(Buffer.compare(Buffer.from(a.w.buffer), Buffer.from(c.w.buffer))).not.toBe(0);
  });

  it('reports the teacher and hard-label terms, ignoring unlabeled examples in the hard term', async () => {
    const trainer = await createTrainer(buildBertClassifier(tiny, { seed: 2 }), { ...options, loss: { kind: 'kd', temperature: 2, alpha: 0.25 } });
    const b = makeBatch(new SeededRandom(4), 6);
    const labels = [1, -1, 0, -1, 1, 0];
    const teacher = Float32Array.from([0.5, -0.5, 2, 1, -1, 0.3, 0, 0, 1.5, -2, -0.2, 0.9]);
    const r = await trainer.step({ ...b, labels, teacherLogits: teacher }, 0);
    const logSoftmax = (x: ArrayLike<number>, i: number, T: number) => {
      const a = x[2 * i]! / T;
      const c = x[2 * i + 1]! / T;
      const z = Math.max(a, c) + Math.log(Math.exp(a - Math.max(a, c)) + Math.exp(c - Math.max(a, c)));
      return [a - z, c - z];
    };
    let ce = 0;
    let kl = 0;
    labels.forEach((y, i) => {
      if (y >= 0) ce -= logSoftmax(r.logits, i, 1)[y]!;
      const lq = logSoftmax(r.logits, i, 2);
      const lp = logSoftmax(teacher, i, 2);
      for (let c = 0; c < 2; c++) kl += Math.exp(lp[c]!) * (lp[c]! - lq[c]!);
    });
    expect(r.hardLoss!).toBeCloseTo(0.75 * (ce / 4), 5);
    expect(r.softLoss!).toBeCloseTo(0.25 * 4 * (kl / 6), 5);
    expect(r.loss).toBeCloseTo(r.hardLoss! + r.softLoss!, 6);
    await trainer.release();
  });

  it('freezes embeddings and name patterns, and rejects a pattern that matches nothing', async () => {
    const model = buildBertClassifier(tiny, { seed: 2 });
    const t = await createTrainer(model, { ...options, freeze: ['embeddings', '*.bias'] });
    expect(t.frozen).toContain('bert.embeddings.word_embeddings.weight');
    expect(t.frozen).toContain('bert.embeddings.LayerNorm.weight');
    expect(t.frozen).toContain('classifier.bias');
    expect(t.trainable).toContain('classifier.weight');
    expect(t.trainable.some((n) => n.includes('embeddings') || n.endsWith('.bias'))).toBe(false);
    const before = new Map([...t.currentWeights()].map(([k, v]) => [k, v.slice()]));
    await t.step(makeBatch(new SeededRandom(3), 4), 1e-2);
    expect(t.currentWeights().get('classifier.weight')).not.toEqual(before.get('classifier.weight'));
    // Frozen weights stay initializers of the training graph, untouched.
    const inits = new Set((t.graph.model.graph!.initializer ?? []).map((x) => x.name));
    expect(inits.has('bert.embeddings.word_embeddings.weight')).toBe(true);
    await t.release();
    await expect(createTrainer(model, { ...options, freeze: ['no_such_weight'] })).rejects.toThrow(/--freeze no_such_weight matches no trainable weight/);
  });

  it('skips a step whose loss is not finite', async () => {
    const t = await createTrainer(buildBertClassifier(tiny, { seed: 2 }), { ...options, loss: { kind: 'kl', alpha: 1 } });
    const b = makeBatch(new SeededRandom(3), 2);
    const before = t.exportState();
    const r = await t.step({ ...b, teacherLogits: Float32Array.from([NaN, 0, 0, 1]) }, 1e-2);
    expect(r.applied).toBe(false);
    expect(t.stepCount).toBe(0);
    expect(t.currentWeights().get('classifier.weight')).toEqual(before.tensors.get('classifier.weight')!.data);
    await t.release();
  });
});

describe('training graph errors', () => {
  it('names the op type, node and input of an op without a gradient rule on the trainable path', async () => {
    const b = new GraphBuilder({ opset: 17 });
    const x = b.input('x', DataType.FLOAT, ['batch', 3]);
    const w = b.initializer('w', Float32Array.from([1, 2, 3, 4, 5, 6]), [3, 2]);
    const h = b.op('MatMul', [x, w], undefined, { name: 'proj' });
    b.node('Floor', [h], { outputs: ['logits'], name: 'round_down' });
    b.output('logits', DataType.FLOAT, ['batch', 2]);
    await expect(createTrainer(b.build(), options)).rejects.toThrow(
      /no gradient rule for op type "Floor" \(node "round_down"\), reached through its input "proj_out" from trainable "w"/,
    );
  });

  it('trains through a graph whose unsupported ops lie off the trainable path', async () => {
    const b = new GraphBuilder({ opset: 17 });
    const x = b.input('x', DataType.FLOAT, ['batch', 3]);
    const w = b.initializer('w', Float32Array.from([1, 2, 3, 4, 5, 6]), [3, 2]);
    const gate = b.op('Floor', [b.op('Abs', [x])]); // data-only branch: no gradient needed
    b.node('MatMul', [b.op('Mul', [x, gate]), w], { outputs: ['logits'] });
    b.output('logits', DataType.FLOAT, ['batch', 2]);
    const t = await createTrainer(b.build(), options);
    const r = await t.step({ feeds: { x: new ort.Tensor('float32', Float32Array.from([1.5, 2.5, -3.5, 0.2, 1, 2]), [2, 3]) }, labels: [0, 1] }, 1e-2);
    expect(r.applied).toBe(true);
    await t.release();
  });

  it('handles initializers that are also listed as graph inputs (IR < 4 style)', async () => {
    const b = new GraphBuilder({ opset: 17 });
    const x = b.input('x', DataType.FLOAT, ['batch', 3]);
    const w = b.initializer('w', new Float32Array(6).fill(0.1), [3, 2]);
    b.input('w', DataType.FLOAT, [3, 2]);
    b.node('MatMul', [x, w], { outputs: ['logits'] });
    b.output('logits', DataType.FLOAT, ['batch', 2]);
    const t = await createTrainer(b.build(), options);
    expect(t.graph.dataInputs).toEqual(['x']);
    const r = await t.step({ feeds: { x: new ort.Tensor('float32', Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]) }, labels: [0, 1] }, 1e-2);
    expect(r.applied).toBe(true);
    await t.release();
  });

  it('refuses opsets before 13 and raises 13-15 to 16', async () => {
    const old = buildBertClassifier(tiny, { seed: 1 });
    old.opsetImport = [{ version: 12 }];
    await expect(createTrainer(old, options)).rejects.toThrow(/opset 12 is older than 13/);
    const b = new GraphBuilder({ opset: 14 });
    const x = b.input('x', DataType.FLOAT, ['batch', 3]);
    b.node('MatMul', [x, b.initializer('w', new Float32Array(6).fill(0.1), [3, 2])], { outputs: ['logits'] });
    b.output('logits', DataType.FLOAT, ['batch', 2]);
    const t = await createTrainer(b.build(), options);
    expect(t.graph.model.opsetImport).toEqual([{ version: 16 }]);
    await t.release();
  });
});
