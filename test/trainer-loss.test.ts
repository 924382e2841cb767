import { describe, expect, it } from 'vitest';
import { appendLoss, type LossSpec } from '../src/distill/losses.js';
import { DataType, encodeModel, GraphBuilder } from '../src/onnx/index.js';
import { ort } from '../src/runtime/session.js';

/** The in-graph losses against a float64 JS reference: value, and dLoss/dLogits vs finite differences of it. */
const B = 4;
const C = 3;
const s = Float64Array.from([0.3, -1.2, 2.0, 0.5, 0.1, -0.4, -2.2, 1.7, 0.9, 0.0, 0.6, -0.8]);
const t = Float64Array.from([1.1, -0.3, 0.2, -0.6, 2.4, 0.3, 0.0, 0.8, -1.5, 0.7, 0.7, 0.1]);
const labels = [2, 0, -1, 1];
const weights = [1, 0.5, 0, 1];

function logSoftmaxRow(x: ArrayLike<number>, i: number, T: number): number[] {
  const row = Array.from({ length: C }, (_, c) => x[i * C + c]! / T);
  const m = Math.max(...row);
  const z = Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0)) + m;
  return row.map((v) => v - z);
}

function reference(x: ArrayLike<number>, spec: LossSpec): number {
  const T = spec.temperature ?? 1;
  const alpha = spec.kind === 'ce' ? 0 : (spec.alpha ?? 0.5);
  let soft = 0;
  if (spec.kind === 'mse') {
    for (let i = 0; i < B * C; i++) soft += (x[i]! - t[i]!) ** 2;
    soft /= B * C;
  } else if (spec.kind !== 'ce') {
    for (let i = 0; i < B; i++) {
      const lq = logSoftmaxRow(x, i, T);
      const lp = logSoftmaxRow(t, i, T);
      for (let c = 0; c < C; c++) soft += Math.exp(lp[c]!) * (lp[c]! - lq[c]!);
    }
    soft = (soft / B) * T * T;
  }
  let ce = 0;
  let wsum = 0;
  for (let i = 0; i < B; i++) {
    const lq = logSoftmaxRow(x, i, 1);
    if (labels[i]! >= 0) ce -= weights[i]! * lq[labels[i]!]!;
    wsum += weights[i]!;
  }
  return alpha * soft + (1 - alpha) * (ce / wsum);
}

async function run(spec: LossSpec) {
  const b = new GraphBuilder({ opset: 17 });
  const logits = b.input('logits', DataType.FLOAT, ['batch', C]);
  const g = appendLoss(b, logits, spec);
  b.node('Identity', [g.loss], { outputs: ['loss'] });
  b.node('Identity', [g.dLogits], { outputs: ['dlogits'] });
  b.output('loss', DataType.FLOAT, []);
  b.output('dlogits', DataType.FLOAT, ['batch', C]);
  const session = await ort.InferenceSession.create(encodeModel(b.build()));
  const feeds: Record<string, ort.Tensor> = { logits: new ort.Tensor('float32', Float32Array.from(s), [B, C]) };
  if (g.teacherLogits) feeds[g.teacherLogits] = new ort.Tensor('float32', Float32Array.from(t), [B, C]);
  if (g.labels) {
    feeds[g.labels] = new ort.Tensor('int64', BigInt64Array.from(labels.map(BigInt)), [B]);
    feeds[g.hardWeight!] = new ort.Tensor('float32', Float32Array.from(weights), [B]);
  }
  const out = await session.run(feeds);
  return { g, loss: (out.loss!.data as Float32Array)[0]!, dlogits: out.dlogits!.data as Float32Array };
}

describe('distillation losses', () => {
  const specs: LossSpec[] = [
    { kind: 'kl', temperature: 2, alpha: 0.5 },
    { kind: 'kd', temperature: 3, alpha: 1 },
    { kind: 'mse', alpha: 0.7 },
    { kind: 'ce' },
  ];
  for (const spec of specs) {
    it(`${spec.kind} (T=${spec.temperature ?? 1}, alpha=${spec.alpha ?? '-'}) matches the reference and its gradient`, async () => {
      const { g, loss, dlogits } = await run(spec);
      expect(loss).toBeCloseTo(reference(s, spec), 5);
      const h = 1e-5;
      for (let i = 0; i < B * C; i++) {
        const plus = Float64Array.from(s);
        const minus = Float64Array.from(s);
        plus[i]! += h;
        minus[i]! -= h;
        const numeric = (reference(plus, spec) - reference(minus, spec)) / (2 * h);
        expect(Math.abs(dlogits[i]! - numeric), `element ${i}`).toBeLessThan(1e-5);
      }
      // Only the inputs the loss needs.
      expect(!!g.teacherLogits).toBe(spec.kind !== 'ce');
      expect(!!g.labels).toBe(spec.kind === 'ce' || (spec.alpha ?? 0.5) < 1);
    });
  }

  it('gives 0 hard loss and no hard gradient when no example is labeled', async () => {
    const b = new GraphBuilder({ opset: 17 });
    const logits = b.input('logits', DataType.FLOAT, ['batch', C]);
    const g = appendLoss(b, logits, { kind: 'ce' });
    b.node('Identity', [g.loss], { outputs: ['loss'] });
    b.node('Identity', [g.dLogits], { outputs: ['dlogits'] });
    b.output('loss', DataType.FLOAT, []);
    b.output('dlogits', DataType.FLOAT, ['batch', C]);
    const session = await ort.InferenceSession.create(encodeModel(b.build()));
    const out = await session.run({
      logits: new ort.Tensor('float32', Float32Array.from(s), [B, C]),
      [g.labels!]: new ort.Tensor('int64', BigInt64Array.from([-1n, -1n, -1n, -1n]), [B]),
      [g.hardWeight!]: new ort.Tensor('float32', new Float32Array(B), [B]),
    });
    expect((out.loss!.data as Float32Array)[0]).toBe(0);
    expect([...(out.dlogits!.data as Float32Array)].every((v) => v === 0)).toBe(true);
  });
});
