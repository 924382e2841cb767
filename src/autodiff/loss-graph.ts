/**
 * Distillation losses, written into the training graph together with their gradient with
 * respect to the student's logits (closed form, so the softmaxes are computed once and the
 * backward pass starts from dLoss/dLogits).
 *
 * With s the student logits [B, C], t the teacher logits, y the labels [B], w the per-example
 * hard-label weights [B] and T the temperature:
 *   kl  (alias kd): alpha * T^2 * KL(softmax(t/T) || softmax(s/T)) + (1 - alpha) * CE(s, y)
 *   mse:            alpha * mean((s - t)^2)                          + (1 - alpha) * CE(s, y)
 *   ce:             CE(s, y)
 * KL is summed over classes and averaged over the batch (PyTorch's reduction='batchmean');
 * MSE is averaged over every element (nn.MSELoss). CE is the w-weighted mean over examples,
 * sum(w_i ce_i) / sum(w_i), and 0 when no example in the batch has weight: w = 0 marks an
 * unlabeled (teacher-only) example, like PyTorch's ignore_index, and a label outside [0, C)
 * contributes nothing either (its one-hot row is all zeros). Gradients:
 *   d kl/ds  = alpha * T / B * (softmax(s/T) - softmax(t/T))
 *   d mse/ds = alpha * 2 (s - t) / (B C)
 *   d ce/ds  = (1 - alpha) * w_i / sum(w) * (softmax(s) - onehot(y))
 */
import { DataType, type GraphBuilder } from '../onnx/index.js';

export type LossKind = 'kl' | 'kd' | 'mse' | 'ce';

export interface LossSpec {
  kind: LossKind;
  /** Softmax temperature of the KL term (default 1). */
  temperature?: number;
  /** Weight of the teacher term; the hard-label term gets 1 - alpha (default 0.5; ignored for ce). */
  alpha?: number;
}

export interface LossGraph {
  /** Scalar total loss. */
  loss: string;
  /** dLoss/dLogits, [B, C]. */
  dLogits: string;
  /** Scalar teacher term (already weighted by alpha), when there is one. */
  softLoss?: string;
  /** Scalar hard-label term (already weighted by 1 - alpha), when there is one. */
  hardLoss?: string;
  /** Graph inputs the loss adds: labels int64 [B], teacher logits float [B, C], hard-label weights float [B]. */
  labels?: string;
  teacherLogits?: string;
  hardWeight?: string;
}

/** Resolved weights of the two terms for a spec. */
export function lossWeights(spec: LossSpec): { soft: number; hard: number; temperature: number } {
  const temperature = spec.temperature ?? 1;
  if (!(temperature > 0)) throw new RangeError(`loss temperature must be > 0, got ${temperature}`);
  if (spec.kind === 'ce') return { soft: 0, hard: 1, temperature };
  const alpha = spec.alpha ?? 0.5;
  if (!(alpha >= 0 && alpha <= 1)) throw new RangeError(`loss alpha must be in [0, 1], got ${alpha}`);
  return { soft: alpha, hard: 1 - alpha, temperature };
}

/** Appends the loss for `logits` ([B, C] float) to the graph; adds the inputs it needs. */
export function appendLoss(b: GraphBuilder, logits: string, spec: LossSpec): LossGraph {
  const { soft, hard, temperature: T } = lossWeights(spec);
  const f = (v: number) => b.scalar(v, 'loss_const');
  const input = (base: string, type: number, dims: string[]) => b.input(b.names.take(base), type, dims);
  const out: Partial<LossGraph> = {};
  const terms: string[] = [];
  const grads: string[] = [];
  const shape = b.op('Shape', [logits], undefined, { name: 'loss/Shape' });
  let axes1Name: string | undefined;
  const axes1 = (): string => (axes1Name ??= b.int64([1], [1], 'loss_axes1'));
  const batch = b.op('Cast', [b.op('Gather', [shape, b.int64([0], [], 'loss_axis0')])], { to: DataType.FLOAT }, { name: 'loss/batch' });

  if (soft > 0) {
    const t = (out.teacherLogits = input('teacher_logits', DataType.FLOAT, ['loss_batch', 'loss_classes']));
    if (spec.kind === 'mse') {
      const diff = b.op('Sub', [logits, t]);
      const count = b.op('Cast', [b.op('Size', [logits])], { to: DataType.FLOAT });
      const mse = b.op('Div', [b.op('ReduceSum', [b.op('Mul', [diff, diff])], { keepdims: 0 }), count]);
      terms.push((out.softLoss = b.op('Mul', [mse, f(soft)], undefined, { name: 'loss/soft' })));
      grads.push(b.op('Mul', [diff, b.op('Div', [f(2 * soft), count])]));
    } else {
      const invT = f(1 / T);
      const logQ = b.op('LogSoftmax', [b.op('Mul', [logits, invT])], { axis: -1 });
      const logP = b.op('LogSoftmax', [b.op('Mul', [t, invT])], { axis: -1 });
      const p = b.op('Exp', [logP]);
      const kl = b.op('Div', [b.op('ReduceSum', [b.op('Mul', [p, b.op('Sub', [logP, logQ])])], { keepdims: 0 }), batch]);
      terms.push((out.softLoss = b.op('Mul', [kl, f(soft * T * T)], undefined, { name: 'loss/soft' })));
      grads.push(b.op('Mul', [b.op('Sub', [b.op('Exp', [logQ]), p]), b.op('Div', [f(soft * T), batch])]));
    }
  }

  if (hard > 0) {
    const y = (out.labels = input('labels', DataType.INT64, ['loss_batch']));
    const w = (out.hardWeight = input('hard_weight', DataType.FLOAT, ['loss_batch']));
    const logp = b.op('LogSoftmax', [logits], { axis: -1 });
    const classes = b.op('Range', [
      b.scalar(0, 'loss_zero', DataType.INT64),
      b.op('Gather', [shape, b.int64([1], [], 'loss_axis1')]),
      b.scalar(1, 'loss_one', DataType.INT64),
    ]);
    const onehot = b.op('Cast', [b.op('Equal', [b.op('Unsqueeze', [y, axes1()]), classes])], { to: DataType.FLOAT });
    const perExample = b.op('Neg', [b.op('ReduceSum', [b.op('Mul', [onehot, logp]), axes1()], { keepdims: 0 })]);
    const total = b.op('Max', [b.op('ReduceSum', [w], { keepdims: 0 }), f(1e-12)]);
    const ce = b.op('Div', [b.op('ReduceSum', [b.op('Mul', [perExample, w])], { keepdims: 0 }), total]);
    terms.push((out.hardLoss = b.op('Mul', [ce, f(hard)], undefined, { name: 'loss/hard' })));
    const rowScale = b.op('Unsqueeze', [b.op('Div', [b.op('Mul', [w, f(hard)]), total]), axes1()]);
    grads.push(b.op('Mul', [b.op('Sub', [b.op('Exp', [logp]), onehot]), rowScale]));
  }

  const loss = terms.length === 1 ? b.op('Identity', [terms[0]!], undefined, { name: 'loss/total' }) : b.op('Add', [terms[0]!, terms[1]!], undefined, { name: 'loss/total' });
  const dLogits = grads.length === 1 ? grads[0]! : b.op('Add', [grads[0]!, grads[1]!], undefined, { name: 'loss/dlogits' });
  return { ...out, loss, dLogits };
}
