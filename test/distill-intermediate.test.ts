import { describe, expect, it } from 'vitest';
import { buildBertClassifier, defaultBertConfig } from '../src/architectures/bert.js';
import { SeededRandom } from '../src/architectures/random.js';
import { appendIntermediateLoss, type IntermediateLossSpec } from '../src/autodiff/intermediate-loss.js';
import { makeBatches } from '../src/data/batching.js';
import { planIntermediate, TeacherIntermediates, uniformLayerMap } from '../src/distill/intermediate.js';
import { feedPlanOf } from '../src/distill/loop.js';
import { createTrainer } from '../src/distill/trainer.js';
import { checkModel, DataType, encodeModel, GraphBuilder } from '../src/onnx/index.js';
import { ort } from '../src/runtime/session.js';

// ---- The loss graphs against a float64 reference; their gradients against finite differences of it.
const B = 2;
const S = 3;
const D = 4;
const mask = [1, 1, 1, 1, 1, 0];
const rng = new SeededRandom(7);
const randn = (n: number) => Float64Array.from({ length: n }, () => rng.normal());
const p0 = randn(B * S * D);
const t0 = randn(B * S * D);

/** Rows of softmax over keys, with the masked keys exactly 0 (as a -10000 mask gives in float32). */
function probs(heads: number): Float64Array {
  const out = new Float64Array(B * heads * S * S);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < heads; h++)
      for (let i = 0; i < S; i++) {
        const row = Array.from({ length: S }, (_, j) => (mask[b * S + j] ? Math.exp(rng.normal()) : 0));
        const z = row.reduce((a, v) => a + v, 0);
        row.forEach((v, j) => (out[((b * heads + h) * S + i) * S + j] = v / z));
      }
  return out;
}

function hiddenRef(p: Float64Array, metric: 'mse' | 'cosine'): number {
  let total = 0;
  let m = 0;
  for (let r = 0; r < B * S; r++) {
    if (!mask[r]) continue;
    m++;
    let dot = 0, pp = 0, tt = 0, sq = 0;
    for (let d = 0; d < D; d++) {
      const a = p[r * D + d]!, b = t0[r * D + d]!;
      dot += a * b; pp += a * a; tt += b * b; sq += (a - b) ** 2;
    }
    total += metric === 'mse' ? sq / D : 1 - dot / (Math.sqrt(pp) * Math.sqrt(tt));
  }
  return total / m;
}

function attentionRef(a: Float64Array, A: Float64Array, hs: number, ht: number): number {
  const mean = (x: Float64Array, h: number) => {
    const out = new Float64Array(B * S * S);
    for (let b = 0; b < B; b++) for (let k = 0; k < h; k++) for (let q = 0; q < S * S; q++) out[b * S * S + q]! += x[(b * h + k) * S * S + q]! / h;
    return out;
  };
  const avg = hs !== ht;
  const [x, y, H] = avg ? [mean(a, hs), mean(A, ht), 1] : [a, A, hs];
  let kl = 0, m = 0;
  for (let b = 0; b < B; b++)
    for (let i = 0; i < S; i++) {
      if (!mask[b * S + i]) continue;
      m++;
      for (let h = 0; h < H; h++)
        for (let j = 0; j < S; j++) {
          const k = ((b * H + h) * S + i) * S + j;
          if (y[k]! > 0) kl += y[k]! * (Math.log(y[k]!) - Math.log(x[k]!));
        }
    }
  return kl / (H * m);
}

async function runLoss(spec: IntermediateLossSpec, student: { name: string; data: Float64Array; dims: number[] }, teacher: { data: Float64Array; dims: number[] }) {
  const b = new GraphBuilder({ opset: 17 });
  b.input(student.name, DataType.FLOAT, student.dims);
  b.input('attention_mask', DataType.INT64, [B, S]);
  const g = appendIntermediateLoss(b, spec, spec.hidden ? [student.name] : []);
  b.node('Identity', [g.loss], { outputs: ['loss'] });
  b.output('loss', DataType.FLOAT, []);
  const seedNames = [...g.seeds.keys()];
  seedNames.forEach((v, k) => {
    b.node('Identity', [g.seeds.get(v)!], { outputs: [`d${k}`] });
    b.output(`d${k}`, DataType.FLOAT);
  });
  const session = await ort.InferenceSession.create(encodeModel(b.build()));
  const feeds: Record<string, ort.Tensor> = {
    attention_mask: new ort.Tensor('int64', BigInt64Array.from(mask.map(BigInt)), [B, S]),
    [student.name]: new ort.Tensor('float32', Float32Array.from(student.data), student.dims),
  };
  expect(g.teacherInputs).toHaveLength(1);
  feeds[g.teacherInputs[0]!.input] = new ort.Tensor('float32', Float32Array.from(teacher.data), teacher.dims);
  const out = await session.run(feeds);
  return { g, loss: (out.loss!.data as Float32Array)[0]!, grads: new Map(seedNames.map((v, k) => [v, out[`d${k}`]!.data as Float32Array])) };
}

function numericGrad(f: (x: Float64Array) => number, x: Float64Array, i: number, h = 1e-6): number {
  const plus = Float64Array.from(x);
  const minus = Float64Array.from(x);
  plus[i]! += h;
  minus[i]! -= h;
  return (f(plus) - f(minus)) / (2 * h);
}

describe('intermediate losses: value and gradient', () => {
  for (const metric of ['mse', 'cosine'] as const) {
    it(`hidden-state ${metric}, padding masked, weight 0.7`, async () => {
      const spec: IntermediateLossSpec = { mask: 'attention_mask', hidden: { metric, weight: 0.7, pairs: [{ student: 'student_hidden', studentWidth: D, teacherWidth: D }] } };
      const { g, loss, grads } = await runLoss(spec, { name: 'student_hidden', data: p0, dims: [B, S, D] }, { data: t0, dims: [B, S, D] });
      expect(g.teacherInputs).toEqual([{ input: 'teacher_hidden_0', role: 'hidden:0' }]);
      const f = (p: Float64Array) => 0.7 * hiddenRef(p, metric);
      expect(loss).toBeCloseTo(f(p0), 5);
      const d = grads.get('student_hidden')!;
      for (let i = 0; i < p0.length; i++) expect(Math.abs(d[i]! - numericGrad(f, p0, i)), `element ${i}`).toBeLessThan(2e-5);
      // Padding positions get no gradient.
      for (let d2 = 0; d2 < D; d2++) expect(Math.abs(d[(B * S - 1) * D + d2]!)).toBe(0);
    });
  }

  for (const [hs, ht] of [[2, 2], [2, 3]] as const) {
    it(`attention KL, ${hs} student heads vs ${ht} teacher heads${hs !== ht ? ' (averaged)' : ''}`, async () => {
      const a0 = probs(hs);
      const A0 = probs(ht);
      const spec: IntermediateLossSpec = { mask: 'attention_mask', attention: { weight: 1.5, student: 'student_attention', studentHeads: hs, teacherHeads: ht } };
      const { loss, grads } = await runLoss(spec, { name: 'student_attention', data: a0, dims: [B, hs, S, S] }, { data: A0, dims: [B, ht, S, S] });
      const f = (a: Float64Array) => 1.5 * attentionRef(a, A0, hs, ht);
      expect(loss).toBeGreaterThan(0);
      expect(loss).toBeCloseTo(f(a0), 5);
      const d = grads.get('student_attention')!;
      for (let i = 0; i < a0.length; i++) {
        if (a0[i] === 0) continue; // masked keys: 0 on both sides, no gradient either way
        const n = numericGrad(f, a0, i);
        expect(Math.abs(d[i]! - n), `element ${i}`).toBeLessThan(1e-4 * Math.max(1, Math.abs(n)));
      }
    });
  }
});

// ---- Training a tiny student on a tiny teacher's insides.
// A wide initialisation gives the teacher peaked attention (a random 0.02 one attends almost uniformly, like the student).
const teacherCfg = { ...defaultBertConfig, vocabSize: 40, numLabels: 3, hiddenSize: 24, numHeads: 3, intermediateSize: 48, numLayers: 2, maxPositions: 16, initializerRange: 0.4 };
const studentCfg0 = { initializerRange: 0.02 };
const studentCfg = { ...teacherCfg, ...studentCfg0, hiddenSize: 16, numHeads: 2, intermediateSize: 32, numLayers: 1 };

function examples(n: number, seed: number) {
  const r = new SeededRandom(seed);
  return Array.from({ length: n }, () => {
    const len = 3 + r.int(8);
    const ids = [1, ...Array.from({ length: len - 1 }, () => 2 + r.int(38))];
    return { ids, typeIds: ids.map(() => 0), label: r.int(3), line: 0 };
  });
}

describe('intermediate losses in training', () => {
  it('maps layers uniformly (TinyBERT)', () => {
    expect(uniformLayerMap(2, 4)).toEqual([1, 3]);
    expect(uniformLayerMap(3, 12)).toEqual([3, 7, 11]);
    expect(uniformLayerMap(1, 2)).toEqual([1]);
    expect(uniformLayerMap(4, 4)).toEqual([0, 1, 2, 3]);
  });

  it('trains a narrower student on hidden states (projected) and attention; the written model has no trace of them', async () => {
    const teacher = buildBertClassifier(teacherCfg, { seed: 1 });
    const student = buildBertClassifier(studentCfg, { seed: 2 });
    const plan = planIntermediate(student, teacher, { hidden: 'mse', hiddenWeight: 1, attention: true, attentionWeight: 1 }, 'attention_mask')!;
    expect(plan.layerMap).toEqual([1]);
    expect(plan.spec.hidden!.pairs).toHaveLength(2);
    const data = examples(16, 3);
    const widths = new Map<string, number>([['hidden:0', 24], ['hidden:1', 24], ['attention', 3]]);
    const feedPlan = feedPlanOf(teacher, 'teacher');
    const fresh = await TeacherIntermediates.open(teacher, feedPlan, plan.teacherValues, widths, data, { budgetBytes: 0, threads: 1 });
    const cached = await TeacherIntermediates.open(teacher, feedPlan, plan.teacherValues, widths, data, { budgetBytes: 1 << 20, threads: 1 });
    expect(fresh.cached).toBe(false);
    expect(cached.cached).toBe(true);

    const trainer = await createTrainer(student, {
      loss: { kind: 'ce' },
      intermediate: plan.spec,
      optimizer: { kind: 'adamw', weightDecay: 0, maxGradNorm: 1 },
      threads: 1,
    });
    expect(trainer.graph.projections.map((p) => p.dims)).toEqual([[16, 24], [16, 24]]);
    expect(trainer.graph.teacherInputs.map((t) => t.role)).toEqual(['hidden:0', 'hidden:1', 'attention']);
    const batch = makeBatches(data, data.length, { sortByLength: false })[0]!;
    const indices = data.map((_, i) => i);
    const feeds = {
      input_ids: new ort.Tensor('int64', BigInt64Array.from(batch.inputIds, BigInt), [batch.size, batch.seqLength]),
      attention_mask: new ort.Tensor('int64', BigInt64Array.from(batch.attentionMask, BigInt), [batch.size, batch.seqLength]),
      token_type_ids: new ort.Tensor('int64', BigInt64Array.from(batch.tokenTypeIds, BigInt), [batch.size, batch.seqLength]),
    };
    const first = await trainer.step({ feeds, labels: batch.labels, teacherValues: await fresh.forBatch(batch, indices) }, 3e-3);
    let last = first;
    for (let k = 0; k < 40; k++) {
      // The second source serves every step after the first from its cache.
      last = await trainer.step({ feeds, labels: batch.labels, teacherValues: await cached.forBatch(batch, indices) }, 3e-3);
    }
    expect(first.hiddenLoss).toBeGreaterThan(0);
    expect(last.hiddenLoss!).toBeLessThan(first.hiddenLoss! * 0.7);
    expect(first.attentionLoss).toBeGreaterThan(1e-3);
    expect(last.attentionLoss!).toBeLessThan(first.attentionLoss! * 0.9);
    await Promise.all([fresh.release(), cached.release()]);

    const written = trainer.inferenceModel();
    expect(checkModel(written)).toEqual([]);
    const names = (written.graph!.initializer ?? []).map((t) => t.name);
    expect(names).toEqual((student.graph!.initializer ?? []).map((t) => t.name));
    expect(names.some((n) => n!.startsWith('kd'))).toBe(false);
    expect(written.graph!.node!.some((n) => (n.name ?? '').startsWith('kd/'))).toBe(false);
    expect(written.graph!.output!.map((o) => o.name)).toEqual(student.graph!.output!.map((o) => o.name));
    const session = await ort.InferenceSession.create(encodeModel(written));
    const out = await session.run(feeds);
    expect(out.logits!.dims).toEqual([16, 3]);
    await trainer.release();
  });

  it('gives the same values from the cache as from the teacher (padding aside)', async () => {
    const teacher = buildBertClassifier(teacherCfg, { seed: 1 });
    const student = buildBertClassifier(studentCfg, { seed: 2 });
    const plan = planIntermediate(student, teacher, { hidden: 'cosine', hiddenWeight: 1, attention: true, attentionWeight: 1 }, 'attention_mask')!;
    const data = examples(6, 4);
    const widths = new Map<string, number>([['hidden:0', 24], ['hidden:1', 24], ['attention', 3]]);
    const src = await TeacherIntermediates.open(teacher, feedPlanOf(teacher, 'teacher'), plan.teacherValues, widths, data, { budgetBytes: 1 << 20, threads: 1 });
    const all = data.map((_, i) => i);
    // First filled batch-wise in another grouping, then read back in one padded batch.
    for (const part of [[0, 1, 2], [3, 4, 5]]) await src.forBatch(makeBatches(part.map((i) => data[i]!), 3, { sortByLength: false })[0]!, part);
    const batch = makeBatches(data, 6, { sortByLength: false })[0]!;
    const fromCache = await src.forBatch(batch, all);
    await src.release();
    const direct = await TeacherIntermediates.open(teacher, feedPlanOf(teacher, 'teacher'), plan.teacherValues, widths, data, { budgetBytes: 0, threads: 1 });
    const fromRun = await direct.forBatch(batch, all);
    await direct.release();
    const Sq = batch.seqLength;
    for (const role of ['hidden:1', 'attention']) {
      const a = fromCache[role]!.data as Float32Array;
      const b = fromRun[role]!.data as Float32Array;
      expect(a.length).toBe(b.length);
      const w = widths.get(role)!;
      data.forEach((e, r) => {
        const n = e.ids.length;
        if (role === 'attention') {
          for (let h = 0; h < w; h++) for (let i = 0; i < n; i++) for (let j = 0; j < Sq; j++) {
            const k = ((r * w + h) * Sq + i) * Sq + j;
            expect(Math.abs(a[k]! - b[k]!)).toBeLessThan(1e-5);
          }
        } else {
          for (let k = r * Sq * w; k < (r * Sq + n) * w; k++) expect(Math.abs(a[k]! - b[k]!)).toBeLessThan(1e-4);
        }
      });
    }
  });
});
