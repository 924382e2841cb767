/**
 * Intermediate distillation losses (TinyBERT's hidden-state loss, MiniLM's attention loss),
 * written into the training graph with their gradients with respect to the student's values in
 * closed form; the backward pass starts from those as extra seeds beside dLoss/dLogits.
 *
 * Hidden states. For each mapped pair, the student's hidden state h [B, S, d_s] (projected by a
 * trainable P [d_s, d_t] when the widths differ, TinyBERT's W_h; the projection is added to the
 * model before the training graph is built and never reaches the written model) against the
 * teacher's t [B, S, d_t], over the positions the attention mask keeps (m [B, S]; padding does
 * not count), averaged over the pairs:
 *   mse:    sum_bs m_bs |p_bs - t_bs|^2 / (d_t sum m)     d/dp = 2 m (p - t) / (d_t sum m)
 *   cosine: sum_bs m_bs (1 - cos(p_bs, t_bs)) / sum m     d/dp = -m / sum m (t / (|p||t|) - cos p / |p|^2)
 *
 * Attention (last layer). Student probabilities a [B, H_s, S, S] against the teacher's
 * A [B, H_t, S, S], KL(A || a) per query row, summed over keys, averaged over heads and over the
 * rows the mask keeps. When the head counts differ, both sides are first averaged over heads
 * (each average is still a distribution over keys). With H the heads compared:
 *   kl = sum m_bi A log(A / a) / (H sum m)               d/da = -m A / a / (H sum m)
 * (probabilities are clamped at 1e-12 inside the log and the division: a masked key has a
 * probability of exactly 0 on both sides and contributes 0).
 */
import { DataType, type GraphBuilder } from '../onnx/index.js';

export type HiddenMetric = 'mse' | 'cosine';

export interface HiddenPairSpec {
  /** Student value [B, S, d_s]. */
  student: string;
  /** Teacher width d_t (the graph input for the teacher's values is [B, S, d_t]). */
  teacherWidth: number;
  /** Student width d_s; a projection [d_s, d_t] is trained when it differs from d_t. */
  studentWidth: number;
}

export interface IntermediateLossSpec {
  hidden?: { metric: HiddenMetric; weight: number; pairs: HiddenPairSpec[] };
  /** Attention probabilities [B, heads, S, S] of one student layer against the teacher's. */
  attention?: { weight: number; student: string; studentHeads: number; teacherHeads: number };
  /** The model's attention-mask input [B, S] (int or float; nonzero keeps a position). Default: every position counts. */
  mask?: string;
  /** Seeds the projections' initialisation (default 0). */
  seed?: number;
}

/** A graph input the trainer feeds with the teacher's values for the batch. */
export interface TeacherInput {
  /** Graph input name. */
  input: string;
  /** What it holds: `hidden:<pair index>` or `attention`. */
  role: string;
}

/** A trainable projection added to the model (not part of the written model). */
export interface Projection {
  name: string;
  dims: [number, number];
  init: Float32Array;
  /** The projected value the loss compares (h @ P). */
  output: string;
}

export interface IntermediateLossGraph {
  /** Scalar sum of the weighted terms. */
  loss: string;
  /** Scalar terms, already weighted. */
  hiddenLoss?: string;
  attentionLoss?: string;
  /** value -> dLoss/dValue. */
  seeds: Map<string, string>;
  teacherInputs: TeacherInput[];
}

/** Xavier-uniform projection weights from a small seeded generator (reproducible runs). */
export function projectionInit(rows: number, cols: number, seed: number): Float32Array {
  let s = (seed * 2654435761 + rows * 40503 + cols) >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
  const limit = Math.sqrt(6 / (rows + cols));
  return Float32Array.from({ length: rows * cols }, () => (next() * 2 - 1) * limit);
}

/**
 * Adds the projections the hidden pairs need (forward MatMuls reading new initializers) and
 * returns them with the value each pair's loss reads. Call before the shape probe so the
 * projected values get facts, and add the projections to the trainable weights.
 */
export function addProjections(b: GraphBuilder, spec: IntermediateLossSpec): { compared: string[]; projections: Projection[] } {
  const projections: Projection[] = [];
  const compared = (spec.hidden?.pairs ?? []).map((pair, k) => {
    if (pair.studentWidth === pair.teacherWidth) return pair.student;
    const init = projectionInit(pair.studentWidth, pair.teacherWidth, (spec.seed ?? 0) * 131 + k);
    const name = b.initializer(`kd.hidden_projection.${k}`, init, [pair.studentWidth, pair.teacherWidth]);
    const output = b.op('MatMul', [pair.student, name], undefined, { name: `kd/hidden_projection_${k}` });
    projections.push({ name, dims: [pair.studentWidth, pair.teacherWidth], init, output });
    return output;
  });
  return { compared, projections };
}

/**
 * Appends the losses to the graph. `compared` are the values the hidden pairs compare (from
 * addProjections, in pair order).
 */
export function appendIntermediateLoss(b: GraphBuilder, spec: IntermediateLossSpec, compared: readonly string[]): IntermediateLossGraph {
  const f = (v: number) => b.scalar(v, 'kd_const');
  const ints = (v: number[]) => b.int64(v, [v.length], 'kd_axes');
  const op = (type: string, inputs: string[], attrs?: Record<string, number>) => b.op(type, inputs, attrs, { name: `kd/${type}` });
  const seeds = new Map<string, string>();
  const addSeed = (value: string, g: string) => seeds.set(value, seeds.has(value) ? op('Add', [seeds.get(value)!, g]) : g);
  const teacherInputs: TeacherInput[] = [];
  const terms: string[] = [];
  const out: Partial<IntermediateLossGraph> = {};

  // m [B, S] float, its total (at least 1) and its [B, S, 1] view.
  const anyStudent = spec.hidden?.pairs[0]?.student ?? spec.attention!.student;
  const mask = spec.mask
    ? op('Cast', [spec.mask], { to: DataType.FLOAT })
    : op('Expand', [f(1), op('Slice', [op('Shape', [anyStudent]), ints([0]), ints([2])])]);
  const maskTotal = op('Max', [op('ReduceSum', [mask], { keepdims: 0 }), f(1)]);
  const mask3 = op('Unsqueeze', [mask, ints([-1])]);

  if (spec.hidden && spec.hidden.pairs.length && spec.hidden.weight > 0) {
    const { metric, weight, pairs } = spec.hidden;
    const pairScale = weight / pairs.length;
    const pairTerms: string[] = [];
    pairs.forEach((pair, k) => {
      const t = b.input(b.names.take(`teacher_hidden_${k}`), DataType.FLOAT, ['kd_batch', 'kd_seq', pair.teacherWidth]);
      teacherInputs.push({ input: t, role: `hidden:${k}` });
      const p = compared[k]!;
      if (metric === 'mse') {
        const diff = op('Sub', [p, t]);
        const denom = op('Mul', [maskTotal, f(pair.teacherWidth)]);
        const sq = op('ReduceSum', [op('Mul', [diff, diff]), ints([-1])], { keepdims: 0 });
        pairTerms.push(op('Div', [op('ReduceSum', [op('Mul', [sq, mask])], { keepdims: 0 }), denom]));
        addSeed(p, op('Mul', [op('Mul', [diff, mask3]), op('Div', [f(2 * pairScale), denom])]));
      } else {
        const eps = f(1e-8);
        const norm = (x: string) => op('Max', [op('Sqrt', [op('ReduceSum', [op('Mul', [x, x]), ints([-1])], { keepdims: 1 })]), eps]);
        const np = norm(p);
        const nt = norm(t);
        const npt = op('Mul', [np, nt]);
        const cos = op('Div', [op('ReduceSum', [op('Mul', [p, t]), ints([-1])], { keepdims: 1 }), npt]); // [B, S, 1]
        const lossRows = op('Mul', [op('Sub', [f(1), cos]), mask3]);
        pairTerms.push(op('Div', [op('ReduceSum', [lossRows], { keepdims: 0 }), maskTotal]));
        const dcos = op('Sub', [op('Div', [t, npt]), op('Mul', [cos, op('Div', [p, op('Mul', [np, np])])])]);
        addSeed(p, op('Mul', [dcos, op('Div', [op('Mul', [mask3, f(-pairScale)]), maskTotal])]));
      }
    });
    const sum = pairTerms.length === 1 ? pairTerms[0]! : op('Sum', pairTerms);
    terms.push((out.hiddenLoss = b.op('Mul', [sum, f(pairScale)], undefined, { name: 'kd/hidden_loss' })));
  }

  if (spec.attention && spec.attention.weight > 0) {
    const { weight, student, studentHeads, teacherHeads } = spec.attention;
    const t = b.input(b.names.take('teacher_attention'), DataType.FLOAT, ['kd_batch', teacherHeads, 'kd_seq', 'kd_seq']);
    teacherInputs.push({ input: t, role: 'attention' });
    const average = studentHeads !== teacherHeads;
    const heads = average ? 1 : studentHeads;
    const meanHeads = (x: string, h: number) => op('Mul', [op('ReduceSum', [x, ints([1])], { keepdims: 1 }), f(1 / h)]);
    const a = average ? meanHeads(student, studentHeads) : student;
    const A = average ? meanHeads(t, teacherHeads) : t;
    const tiny = f(1e-12);
    const aSafe = op('Max', [a, tiny]);
    const rowMask = op('Unsqueeze', [mask, ints([1, -1])]); // [B, 1, S, 1]: query rows
    const denom = op('Mul', [maskTotal, f(heads)]);
    const pointwise = op('Mul', [A, op('Sub', [op('Log', [op('Max', [A, tiny])]), op('Log', [aSafe])])]);
    const kl = op('Div', [op('ReduceSum', [op('Mul', [pointwise, rowMask])], { keepdims: 0 }), denom]);
    terms.push((out.attentionLoss = b.op('Mul', [kl, f(weight)], undefined, { name: 'kd/attention_loss' })));
    let da = op('Mul', [op('Div', [op('Mul', [A, rowMask]), aSafe]), op('Div', [f(-weight), denom])]);
    if (average) da = op('Expand', [op('Mul', [da, f(1 / studentHeads)]), op('Shape', [student])]);
    addSeed(student, da);
  }

  const loss = terms.length === 1 ? b.op('Identity', [terms[0]!], undefined, { name: 'kd/loss' }) : b.op('Add', [terms[0]!, terms[1]!], undefined, { name: 'kd/loss' });
  return { ...out, loss, seeds, teacherInputs };
}
