import { describe, expect, it } from 'vitest';
import { SeededRandom } from '../src/architectures/random.js';
import { createTrainer, type TrainBatch } from '../src/distill/trainer.js';
import type { OptimizerSpec } from '../src/distill/optimizer.js';
import { DataType, GraphBuilder, type ModelProto } from '../src/onnx/index.js';
import { ort } from '../src/runtime/session.js';

/**
 * The in-graph optimizer against a float64 JS re-implementation of torch.optim.AdamW / SGD
 * (with clip_grad_norm_), on a model with an embedding table, a weight matrix and a bias:
 * logits = mean_j(E[ids[:, j]]) @ W + b, loss CE. Embedding rows update lazily (only rows
 * the batch touches) or densely, as chosen.
 */
const V = 7, D = 3, C = 2, B = 3, S = 2;

function initial() {
  const rng = new SeededRandom(11);
  return {
    E: Float64Array.from({ length: V * D }, () => rng.normal() * 0.5),
    W: Float64Array.from({ length: D * C }, () => rng.normal() * 0.5),
    b: Float64Array.from({ length: C }, () => rng.normal() * 0.1),
  };
}

function model(): ModelProto {
  const w0 = initial();
  const b = new GraphBuilder({ opset: 17 });
  const ids = b.input('ids', DataType.INT64, ['batch', S]);
  const E = b.initializer('emb', Float32Array.from(w0.E), [V, D]);
  const W = b.initializer('W', Float32Array.from(w0.W), [D, C]);
  const bias = b.initializer('bias', Float32Array.from(w0.b), [C]);
  const h = b.op('ReduceMean', [b.op('Gather', [E, ids])], { axes: [1], keepdims: 0 });
  b.node('Add', [b.op('MatMul', [h, W]), bias], { outputs: ['logits'] });
  b.output('logits', DataType.FLOAT, ['batch', C]);
  return b.build();
}

const batches: Array<{ ids: number[]; labels: number[] }> = [
  { ids: [1, 2, 2, 3, 6, 1], labels: [0, 1, 1] },
  { ids: [4, 4, 0, 1, 5, 2], labels: [1, 0, -1] },
  { ids: [3, 3, 3, 3, 1, 0], labels: [0, 1, 0] },
];
const lrs = [0.1, 0.05, 0.08];

/** PyTorch's update rules in float64. Returns the weights after all batches. */
function reference(spec: Required<OptimizerSpec>, lazyE: boolean) {
  const p = initial();
  const names = ['E', 'W', 'b'] as const;
  const m = Object.fromEntries(names.map((n) => [n, new Float64Array(p[n].length)])) as Record<(typeof names)[number], Float64Array>;
  const v = Object.fromEntries(names.map((n) => [n, new Float64Array(p[n].length)])) as Record<(typeof names)[number], Float64Array>;
  batches.forEach(({ ids, labels }, t) => {
    const lr = lrs[t]!;
    const g = { E: new Float64Array(V * D), W: new Float64Array(D * C), b: new Float64Array(C) };
    const labeled = labels.filter((y) => y >= 0).length;
    for (let i = 0; i < B; i++) {
      const h = new Float64Array(D);
      for (let j = 0; j < S; j++) for (let d = 0; d < D; d++) h[d]! += p.E[ids[i * S + j]! * D + d]! / S;
      const z = Array.from({ length: C }, (_, c) => p.b[c]! + h.reduce((a, hd, d) => a + hd * p.W[d * C + c]!, 0));
      const mx = Math.max(...z);
      const e = z.map((x) => Math.exp(x - mx));
      const sum = e.reduce((a, x) => a + x, 0);
      if (labels[i]! < 0) continue;
      const dz = e.map((x, c) => (x / sum - (c === labels[i] ? 1 : 0)) / labeled);
      for (let c = 0; c < C; c++) {
        g.b[c]! += dz[c]!;
        for (let d = 0; d < D; d++) g.W[d * C + c]! += h[d]! * dz[c]!;
      }
      for (let d = 0; d < D; d++) {
        const dh = dz.reduce((a, x, c) => a + x * p.W[d * C + c]!, 0);
        for (let j = 0; j < S; j++) g.E[ids[i * S + j]! * D + d]! += dh / S;
      }
    }
    const norm = Math.sqrt(names.reduce((a, n) => a + g[n].reduce((x, y) => x + y * y, 0), 0));
    const clip = spec.maxGradNorm > 0 ? Math.min(1, spec.maxGradNorm / (norm + 1e-6)) : 1;
    const touched = new Set(ids);
    for (const n of names) {
      const decay = n !== 'b';
      for (let k = 0; k < p[n].length; k++) {
        if (n === 'E' && lazyE && !touched.has(Math.floor(k / D))) continue;
        let gk = g[n][k]! * clip;
        if (spec.kind === 'adamw') {
          const [b1, b2] = spec.betas;
          if (decay) p[n][k]! *= 1 - lr * spec.weightDecay;
          m[n][k] = b1 * m[n][k]! + (1 - b1) * gk;
          v[n][k] = b2 * v[n][k]! + (1 - b2) * gk * gk;
          const step = t + 1;
          const denom = Math.sqrt(v[n][k]!) / Math.sqrt(1 - b2 ** step) + spec.eps;
          p[n][k]! -= (lr / (1 - b1 ** step)) * (m[n][k]! / denom);
        } else {
          if (decay) gk += spec.weightDecay * p[n][k]!;
          m[n][k] = spec.momentum * m[n][k]! + gk;
          p[n][k]! -= lr * m[n][k]!;
        }
      }
    }
  });
  return p;
}

function trainBatch(ids: number[], labels: number[]): TrainBatch {
  return { feeds: { ids: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [B, S]) }, labels };
}

async function compare(spec: Required<OptimizerSpec>, sparseEmbeddings: boolean) {
  const trainer = await createTrainer(model(), { loss: { kind: 'ce' }, optimizer: spec, sparseEmbeddings, threads: 1 });
  expect(trainer.graph.params.find((p) => p.name === 'emb')!.sparse).toBe(sparseEmbeddings);
  expect(trainer.graph.params.map((p) => [p.name, p.decay])).toEqual([['emb', true], ['W', true], ['bias', false]]);
  for (let t = 0; t < batches.length; t++) {
    const r = await trainer.step(trainBatch(batches[t]!.ids, batches[t]!.labels), lrs[t]!);
    expect(r.applied).toBe(true);
  }
  const want = reference(spec, sparseEmbeddings);
  const got = trainer.currentWeights();
  for (const [name, ref] of [['emb', want.E], ['W', want.W], ['bias', want.b]] as const) {
    const w = got.get(name)!;
    for (let k = 0; k < ref.length; k++) expect(Math.abs(w[k]! - ref[k]!), `${name}[${k}]`).toBeLessThan(2e-5);
  }
  await trainer.release();
}

const adamw: Required<OptimizerSpec> = { kind: 'adamw', betas: [0.9, 0.98], eps: 1e-6, weightDecay: 0.1, momentum: 0, maxGradNorm: 0.3 };
const sgd: Required<OptimizerSpec> = { kind: 'sgd', betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.05, momentum: 0.9, maxGradNorm: 0.5 };

describe('in-graph optimizer step', () => {
  it('AdamW with clipping and decoupled weight decay, embedding rows updated lazily', () => compare(adamw, true));
  it('AdamW with the embedding table updated densely', () => compare(adamw, false));
  it('AdamW without clipping', () => compare({ ...adamw, maxGradNorm: 0 }, true));
  it('SGD with momentum, L2 weight decay and clipping', () => compare(sgd, true));
  it('SGD dense', () => compare({ ...sgd, momentum: 0 }, false));
});
