/**
 * In-graph optimizer step: global-norm gradient clipping, then AdamW or SGD with momentum,
 * written as ONNX ops after the backward pass so one onnxruntime run does forward, loss,
 * backward and update. New weights and optimizer state are graph outputs that the trainer
 * feeds back as the next step's inputs.
 *
 * AdamW follows torch.optim.AdamW (decoupled weight decay, bias correction), rearranged so the
 * bias corrections are scalars fed per step:
 *   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
 *   w = w (1 - lr wd) - stepSize * m / (sqrt(v) + epsHat)
 *   stepSize = lr sqrt(1 - b2^t) / (1 - b1^t),  epsHat = eps sqrt(1 - b2^t)
 * which is algebraically PyTorch's update. SGD follows torch.optim.SGD (weight decay added to
 * the gradient, momentum buffer b = mu b + g, w = w - lr b).
 * Clipping follows torch.nn.utils.clip_grad_norm_: g *= min(1, maxNorm / (norm + 1e-6)), with
 * the norm over every trainable gradient; the clip factor is folded into the (1 - b1)/(1 - b2)
 * scalars so it costs no pass over the weights.
 *
 * Weight decay applies only to parameters marked `decay` (the training-graph builder marks
 * weights of rank >= 2, i.e. everything but biases and LayerNorm weights, as HF does).
 *
 * A parameter given as rows (`rows` set: its gradient holds only the rows an embedding lookup
 * touched) is updated lazily: only those rows of the weight and of its state change, as in
 * TF's LazyAdam or torch's SparseAdam; the graph outputs the new rows and the trainer writes
 * them into the full tensors in place.
 */
import { DataType, type GraphBuilder } from '../onnx/index.js';

export type OptimizerKind = 'adamw' | 'sgd';

export interface OptimizerSpec {
  kind: OptimizerKind;
  /** AdamW (beta1, beta2), default [0.9, 0.999]. */
  betas?: [number, number];
  /** AdamW epsilon, default 1e-8. */
  eps?: number;
  /** Weight decay (AdamW: decoupled; SGD: L2 added to the gradient), default 0.01. */
  weightDecay?: number;
  /** SGD momentum, default 0.9 (0: plain SGD, no state). */
  momentum?: number;
  /** Global-norm clipping threshold, default 1.0; 0 disables clipping. */
  maxGradNorm?: number;
}

export type ResolvedOptimizerSpec = Required<OptimizerSpec>;

export function resolveOptimizer(spec: OptimizerSpec): ResolvedOptimizerSpec {
  const r: ResolvedOptimizerSpec = {
    kind: spec.kind,
    betas: spec.betas ?? [0.9, 0.999],
    eps: spec.eps ?? 1e-8,
    weightDecay: spec.weightDecay ?? 0.01,
    momentum: spec.momentum ?? 0.9,
    maxGradNorm: spec.maxGradNorm ?? 1.0,
  };
  if (r.kind !== 'adamw' && r.kind !== 'sgd') throw new RangeError(`unknown optimizer "${String(r.kind)}" (expected adamw or sgd)`);
  const [b1, b2] = r.betas;
  if (!(b1 >= 0 && b1 < 1 && b2 >= 0 && b2 < 1)) throw new RangeError(`optimizer betas must be in [0, 1), got [${b1}, ${b2}]`);
  if (!(r.eps > 0)) throw new RangeError(`optimizer eps must be > 0, got ${r.eps}`);
  if (!(r.weightDecay >= 0)) throw new RangeError(`weight decay must be >= 0, got ${r.weightDecay}`);
  if (!(r.momentum >= 0 && r.momentum < 1)) throw new RangeError(`momentum must be in [0, 1), got ${r.momentum}`);
  if (!(r.maxGradNorm >= 0)) throw new RangeError(`max grad norm must be >= 0, got ${r.maxGradNorm}`);
  return r;
}

/** Names of the per-parameter state tensors (each shaped like the parameter, zeros at start). */
export function optimizerStateNames(spec: ResolvedOptimizerSpec): string[] {
  if (spec.kind === 'adamw') return ['m', 'v'];
  return spec.momentum > 0 ? ['momentum'] : [];
}

export interface ParamToUpdate {
  /** The weight's name (used to name the new nodes). */
  name: string;
  /** Graph value holding the current weights. */
  weight: string;
  /** Its gradient: same shape as the weight, or [U, ...] rows when `rows` is set. */
  grad: string;
  /** int64 [U] row indices (unique) the gradient rows belong to: lazy row update. */
  rows?: string;
  /** Apply weight decay to it. */
  decay: boolean;
  /** The weight's dims (for the state inputs' declared shapes). */
  dims: number[];
}

export interface ParamUpdateIO {
  name: string;
  /** Graph inputs with the current state, in optimizerStateNames order. */
  stateInputs: string[];
  /** The new weights: the whole tensor, or its new rows when `rows` is set. */
  weightOutput: string;
  /** The new state, same layout as weightOutput. */
  stateOutputs: string[];
  /** The row indices the row outputs belong to (lazy updates only; the `rows` given). */
  rows?: string;
}

export interface OptimizerGraph {
  params: ParamUpdateIO[];
  /** Scalar float inputs fed every step; values from optimizerScalars(). */
  scalarInputs: Record<string, string>;
  /** Scalar: global L2 norm of the gradients before clipping. */
  gradNorm: string;
}

/** The per-step scalar inputs for learning rate `lr` at optimizer step `step` (1-based). */
export function optimizerScalars(spec: ResolvedOptimizerSpec, lr: number, step: number): Record<string, number> {
  if (spec.kind === 'sgd') return { lr };
  const [b1, b2] = spec.betas;
  const bc1 = 1 - b1 ** step;
  const bc2 = 1 - b2 ** step;
  return {
    stepSize: (lr * Math.sqrt(bc2)) / bc1,
    epsHat: spec.eps * Math.sqrt(bc2),
    decayFactor: 1 - lr * spec.weightDecay,
  };
}

export function appendOptimizer(b: GraphBuilder, params: readonly ParamToUpdate[], spec: ResolvedOptimizerSpec): OptimizerGraph {
  const f = (v: number) => b.scalar(v, 'opt_const');
  const op = (type: string, inputs: string[], attrs?: Record<string, number>) => b.op(type, inputs, attrs, { name: `opt/${type}` });
  const scalarInput = (key: string) => b.input(b.names.take(`opt.${key}`), DataType.FLOAT, []);

  // Global norm, before clipping.
  const squares = params.map((p) => op('ReduceSumSquare', [p.grad], { keepdims: 0 }));
  const sumSquares = squares.length === 1 ? squares[0]! : op('Sum', squares);
  const gradNorm = b.op('Sqrt', [sumSquares], undefined, { name: 'opt/grad_norm' });
  const clip = spec.maxGradNorm > 0 ? op('Min', [f(1), op('Div', [f(spec.maxGradNorm), op('Add', [gradNorm, f(1e-6)])])]) : undefined;

  const scalarInputs: Record<string, string> = {};
  const stateNames = optimizerStateNames(spec);
  const ios: ParamUpdateIO[] = [];
  let k1: string, k2: string, stepSize: string, epsHat: string, decayFactor: string, lr: string;
  if (spec.kind === 'adamw') {
    const [b1, b2] = spec.betas;
    stepSize = scalarInputs.stepSize = scalarInput('step_size');
    epsHat = scalarInputs.epsHat = scalarInput('eps_hat');
    decayFactor = scalarInputs.decayFactor = scalarInput('decay_factor');
    k1 = clip ? op('Mul', [clip, f(1 - b1)]) : f(1 - b1);
    k2 = clip ? op('Mul', [op('Mul', [clip, clip]), f(1 - b2)]) : f(1 - b2);
  } else {
    lr = scalarInputs.lr = scalarInput('lr');
  }

  for (const p of params) {
    const stateInputs = stateNames.map((s) => b.input(b.names.take(`${p.name}.${s}`), DataType.FLOAT, p.dims));
    // The last op of each new value writes straight into its graph output name (no Identity copy).
    const suffix = p.rows ? 'new_rows' : 'new';
    const named = (type: string, inputs: string[], base: string) =>
      b.node(type, inputs, { name: `opt/${type}`, outputs: [b.names.take(`${p.name}.${base}`)] })[0]!;
    // For lazy row updates, work on the touched rows of the weight and its state.
    const rowsOf = (x: string) => (p.rows ? op('Gather', [x, p.rows]) : x);
    const w = rowsOf(p.weight);
    const state = stateInputs.map(rowsOf);
    const g = p.grad;
    let weightOutput: string;
    let stateOutputs: string[];
    if (spec.kind === 'adamw') {
      const [b1, b2] = spec.betas;
      const m = named('Add', [op('Mul', [state[0]!, f(b1)]), op('Mul', [g, k1!])], `m.${suffix}`);
      const v = named('Add', [op('Mul', [state[1]!, f(b2)]), op('Mul', [op('Mul', [g, g]), k2!])], `v.${suffix}`);
      const update = op('Mul', [op('Div', [m, op('Add', [op('Sqrt', [v]), epsHat!])]), stepSize!]);
      weightOutput = named('Sub', [p.decay && spec.weightDecay > 0 ? op('Mul', [w, decayFactor!]) : w, update], suffix);
      stateOutputs = [m, v];
    } else {
      let gg = clip ? op('Mul', [g, clip]) : g;
      if (p.decay && spec.weightDecay > 0) gg = op('Add', [gg, op('Mul', [w, f(spec.weightDecay)])]);
      const buf = spec.momentum > 0 ? named('Add', [op('Mul', [state[0]!, f(spec.momentum)]), gg], `momentum.${suffix}`) : gg;
      weightOutput = named('Sub', [w, op('Mul', [buf, lr!])], suffix);
      stateOutputs = spec.momentum > 0 ? [buf] : [];
    }
    ios.push({ name: p.name, stateInputs, weightOutput, stateOutputs, ...(p.rows ? { rows: p.rows } : {}) });
  }
  return { params: ios, scalarInputs, gradNorm };
}
