/**
 * The training runtime: builds the training graph of a student model once (forward + loss +
 * backward + optimizer step, see src/autodiff/training-graph.ts), opens it in onnxruntime, and
 * runs one optimizer step per `step()` call.
 *
 * Weights and optimizer state live as onnxruntime tensors between steps: the outputs of one
 * step (new weights, new AdamW m/v) are fed as the next step's inputs as they are, with no JS
 * copies. Embedding tables updated by rows are owned by the trainer and patched in place with
 * the rows the step returns (a few hundred rows instead of the whole table).
 *
 * A step whose loss or gradient norm is not finite changes nothing (`applied: false`); the
 * caller decides whether to stop (ExitCode.diverged) or skip the batch.
 *
 * Determinism: the same weights, batches, learning rates, seed and thread count give
 * bit-identical weights. With dropout on, a trainer resumed from exportState() draws a fresh
 * mask sequence (onnxruntime seeds its generator once per session), so a resumed run is
 * equivalent but not bit-identical to an uninterrupted one; without dropout it is identical.
 *
 * Typical loop:
 *   const trainer = await createTrainer(model, { loss: { kind: 'kl', temperature: 2, alpha: 0.5 },
 *     optimizer: { kind: 'adamw', weightDecay: 0.01, maxGradNorm: 1 }, threads: 2 });
 *   for (const [i, batch] of batches.entries())
 *     await trainer.step({ feeds, labels, teacherLogits }, learningRateAt(i, schedule));
 *   await saveModel(trainer.inferenceModel(), 'student.onnx');
 */
import { UserError } from '../errors.js';
import { buildTrainingGraph, type TrainingGraph } from '../autodiff/training-graph.js';
import { selectTrainable, type TrainableSelection } from '../autodiff/trainable.js';
import {
  encodeModel,
  initializersOf,
  makeTensor,
  tensorDims,
  tensorToFloat32,
  type ModelProto,
  type TensorProto,
} from '../onnx/index.js';
import type { Device } from '../runtime/device.js';
import { openSession, ort, type GraphOptimizationLevel } from '../runtime/session.js';
import type { IntermediateLossSpec } from '../autodiff/intermediate-loss.js';
import type { LossSpec } from './losses.js';
import { optimizerScalars, type OptimizerSpec } from './optimizer.js';

export interface TrainerOptions extends TrainableSelection {
  loss: LossSpec;
  /** Hidden-state / attention losses (their teacher values come with each batch as `teacherValues`). */
  intermediate?: IntermediateLossSpec;
  optimizer: OptimizerSpec;
  /** The logits output (default: the model's first output). */
  logits?: string;
  /** Update embedding tables by the rows each batch touches (lazy AdamW/SGD; default true). */
  sparseEmbeddings?: boolean;
  /** Which weights get weight decay (default: rank >= 2, i.e. not biases or LayerNorm weights). */
  decay?: (name: string, dims: readonly number[]) => boolean;
  /** onnxruntime intra-op threads (default: onnxruntime's choice, one per physical core). */
  threads?: number;
  device?: Device;
  /** onnxruntime graph optimizations for the training session (default 'extended'). */
  graphOptimizationLevel?: GraphOptimizationLevel;
  /**
   * Training-time dropout rate (HF BERT's places: attention probabilities, dense outputs before
   * residual adds, embeddings, classifier input). Default 0: none.
   */
  dropout?: number;
  /** Seed of the dropout masks (same seed and threads: bit-identical weights). Default 0. */
  seed?: number;
  /** Names the model in error messages. */
  label?: string;
  /**
   * Sample inputs for the one-off shape probe when zeros will not do (see probeValueFacts):
   * called with the sizes chosen for each symbolic input dim.
   */
  probeFeeds?: (sizes: Map<string, number>, run: 0 | 1) => Record<string, ort.Tensor>;
}

export interface TrainBatch {
  /** The model's own inputs (input_ids, attention_mask, token_type_ids), as buildFeeds makes them. */
  feeds: Record<string, ort.Tensor>;
  /** Class index per example; -1 (any value outside [0, classes)) marks an unlabeled example. */
  labels?: ArrayLike<number>;
  /** Teacher logits [batch, classes], row-major. Needed by the kl/kd/mse losses. */
  teacherLogits?: Float32Array;
  /** Per-example weight of the hard-label term (default: 1 where labeled, 0 elsewhere). */
  hardWeight?: ArrayLike<number>;
  /** The teacher's intermediate values by role (`hidden:<pair>`, `attention`; see graph.teacherInputs). */
  teacherValues?: Record<string, ort.Tensor>;
}

export interface StepResult {
  /** Optimizer steps applied so far, this one included. */
  step: number;
  loss: number;
  /** The teacher term (alpha-weighted) and the hard-label term ((1 - alpha)-weighted). */
  softLoss?: number;
  hardLoss?: number;
  /** The intermediate terms (weighted). */
  hiddenLoss?: number;
  attentionLoss?: number;
  /** Global gradient L2 norm before clipping. */
  gradNorm: number;
  /** The student's logits for the batch, [batch, classes] row-major (before this step's update). */
  logits: Float32Array;
  /** False when loss or gradient norm was not finite: nothing was updated. */
  applied: boolean;
}

export interface TrainerState {
  /** Optimizer steps taken (the bias-correction step count). */
  step: number;
  optimizer: string;
  /** `<weight>` -> weights, `<weight>#<state>` -> optimizer state (m, v, momentum). */
  tensors: Map<string, { dims: number[]; data: Float32Array }>;
}

export interface Trainer {
  readonly graph: TrainingGraph;
  /** Weights that train, and those frozen by `freeze`. */
  readonly trainable: string[];
  readonly frozen: string[];
  readonly stepCount: number;
  /** One optimizer step on a batch at learning rate `lr`. Calls must not overlap. */
  step(batch: TrainBatch, lr: number): Promise<StepResult>;
  /** The current trained weights by name (live views: copy before keeping across steps). */
  currentWeights(): Map<string, Float32Array>;
  /** The original model with the current weights as initializers: same graph, inputs, outputs. */
  inferenceModel(): ModelProto;
  /** A copy of weights, optimizer state and step count (for checkpoints). */
  exportState(): TrainerState;
  /** Restores exportState() output (resume). Names and dims must match. */
  importState(state: TrainerState): void;
  release(): Promise<void>;
}

export async function createTrainer(model: ModelProto, opts: TrainerOptions): Promise<Trainer> {
  const label = opts.label ?? 'model';
  const { trainable, frozen } = selectTrainable(model.graph ?? {}, opts, label);
  if (!trainable.length) throw new UserError(`${label}: every weight is frozen; nothing to train`);
  const graph = await buildTrainingGraph(model, {
    trainable,
    loss: opts.loss,
    ...(opts.intermediate ? { intermediate: opts.intermediate } : {}),
    optimizer: opts.optimizer,
    logits: opts.logits,
    sparseEmbeddings: opts.sparseEmbeddings,
    decay: opts.decay,
    dropout: opts.dropout,
    seed: opts.seed,
    label,
    sampleFeeds: opts.probeFeeds,
  });
  const { session } = await openSession(encodeModel(graph.model), {
    threads: opts.threads,
    device: opts.device,
    graphOptimizationLevel: opts.graphOptimizationLevel ?? 'extended',
  });
  const inits = initializersOf(model.graph!);
  const values = new Map<string, ort.Tensor>();
  const projections = new Map(graph.projections.map((p) => [p.name, p.init]));
  for (const p of graph.params) {
    const start = projections.get(p.name)?.slice() ?? tensorToFloat32(inits.get(p.name)!).slice();
    values.set(p.input, new ort.Tensor('float32', start, p.dims));
    for (const s of p.stateInputs) values.set(s, new ort.Tensor('float32', new Float32Array(p.dims.reduce((a, d) => a * d, 1)), p.dims));
  }
  return new OnnxTrainer(graph, session, values, model, [...trainable.filter((n) => !graph.unreached.includes(n))], frozen, label);
}

class OnnxTrainer implements Trainer {
  private steps = 0;
  private busy = false;

  constructor(
    readonly graph: TrainingGraph,
    private readonly session: ort.InferenceSession,
    /** Current weights and optimizer state by graph input name. */
    private readonly values: Map<string, ort.Tensor>,
    private readonly source: ModelProto,
    readonly trainable: string[],
    readonly frozen: string[],
    private readonly label: string,
  ) {}

  get stepCount(): number {
    return this.steps;
  }

  async step(batch: TrainBatch, lr: number): Promise<StepResult> {
    if (this.busy) throw new Error('trainer.step() called while another step is running');
    this.busy = true;
    try {
      return await this.run(batch, lr);
    } finally {
      this.busy = false;
    }
  }

  private async run(batch: TrainBatch, lr: number): Promise<StepResult> {
    const g = this.graph;
    const feeds: Record<string, ort.Tensor> = {};
    for (const name of g.dataInputs) {
      const t = batch.feeds[name];
      if (!t) throw new UserError(`${this.label}: batch has no "${name}" input`);
      feeds[name] = t;
    }
    const size = feeds[g.dataInputs[0]!]!.dims[0]!;
    const classes = typeof g.numLabels === 'number' ? g.numLabels : undefined;
    if (g.labels) {
      if (!batch.labels || batch.labels.length !== size) throw new UserError(`${this.label}: the loss needs ${size} labels for this batch`);
      const labels = new BigInt64Array(size);
      const weight = new Float32Array(size);
      for (let i = 0; i < size; i++) {
        const y = batch.labels[i]!;
        labels[i] = BigInt(Math.trunc(y));
        weight[i] = batch.hardWeight ? batch.hardWeight[i]! : y >= 0 && (classes === undefined || y < classes) ? 1 : 0;
      }
      if (batch.hardWeight && batch.hardWeight.length !== size) throw new UserError(`${this.label}: hardWeight needs ${size} values`);
      feeds[g.labels] = new ort.Tensor('int64', labels, [size]);
      feeds[g.hardWeight!] = new ort.Tensor('float32', weight, [size]);
    }
    if (g.teacherLogits) {
      const t = batch.teacherLogits;
      if (!t || !classes || t.length !== size * classes) {
        throw new UserError(`${this.label}: the loss needs teacher logits [${size}, ${classes ?? '?'}] for this batch`);
      }
      feeds[g.teacherLogits] = new ort.Tensor('float32', t, [size, classes]);
    }
    for (const t of g.teacherInputs) {
      const v = batch.teacherValues?.[t.role];
      if (!v) throw new UserError(`${this.label}: the intermediate loss needs the teacher's ${t.role} values for this batch`);
      feeds[t.input] = v;
    }
    const scalars = optimizerScalars(g.optimizer, lr, this.steps + 1);
    for (const [key, input] of Object.entries(g.scalarInputs)) feeds[input] = new ort.Tensor('float32', Float32Array.of(scalars[key]!), []);
    for (const [name, t] of this.values) feeds[name] = t;

    const out = (await this.session.run(feeds)) as Record<string, ort.Tensor>;
    const scalar = (name: string | undefined) => (name ? (out[name]!.data as Float32Array)[0]! : undefined);
    const loss = scalar(g.loss)!;
    const gradNorm = scalar(g.gradNorm)!;
    const applied = Number.isFinite(loss) && Number.isFinite(gradNorm);
    if (applied) {
      this.steps++;
      for (const p of g.params) {
        if (!p.sparse) {
          this.values.set(p.input, out[p.weightOutput]!);
          p.stateInputs.forEach((s, i) => this.values.set(s, out[p.stateOutputs[i]!]!));
          continue;
        }
        const rows = out[p.rows!]!.data as BigInt64Array;
        const width = p.dims.slice(1).reduce((a, d) => a * d, 1);
        const patch = (target: string, source: string) => {
          const dst = this.values.get(target)!.data as Float32Array;
          const src = out[source]!.data as Float32Array;
          for (let k = 0; k < rows.length; k++) dst.set(src.subarray(k * width, (k + 1) * width), Number(rows[k]!) * width);
        };
        patch(p.input, p.weightOutput);
        p.stateInputs.forEach((s, i) => patch(s, p.stateOutputs[i]!));
      }
    }
    return {
      step: this.steps,
      loss,
      ...(g.softLoss ? { softLoss: scalar(g.softLoss) } : {}),
      ...(g.hardLoss ? { hardLoss: scalar(g.hardLoss) } : {}),
      ...(g.hiddenLoss ? { hiddenLoss: scalar(g.hiddenLoss) } : {}),
      ...(g.attentionLoss ? { attentionLoss: scalar(g.attentionLoss) } : {}),
      gradNorm,
      logits: out[g.logits]!.data as Float32Array,
      applied,
    };
  }

  currentWeights(): Map<string, Float32Array> {
    return new Map(this.graph.params.map((p) => [p.name, this.values.get(p.input)!.data as Float32Array]));
  }

  inferenceModel(): ModelProto {
    const weights = this.currentWeights();
    const g = this.source.graph!;
    const initializer = (g.initializer ?? []).map((t): TensorProto => {
      const w = weights.get(t.name ?? '');
      return w ? makeTensor(t.name ?? '', w.slice(), tensorDims(t)) : t;
    });
    return { ...this.source, graph: { ...g, initializer } };
  }

  exportState(): TrainerState {
    const tensors = new Map<string, { dims: number[]; data: Float32Array }>();
    for (const p of this.graph.params) {
      tensors.set(p.name, { dims: [...p.dims], data: (this.values.get(p.input)!.data as Float32Array).slice() });
      p.stateInputs.forEach((s, i) => {
        tensors.set(`${p.name}#${this.graph.stateNames[i]}`, { dims: [...p.dims], data: (this.values.get(s)!.data as Float32Array).slice() });
      });
    }
    return { step: this.steps, optimizer: this.graph.optimizer.kind, tensors };
  }

  importState(state: TrainerState): void {
    if (state.optimizer !== this.graph.optimizer.kind) {
      throw new UserError(`${this.label}: checkpoint was written by the ${state.optimizer} optimizer, this run uses ${this.graph.optimizer.kind}`);
    }
    const next = new Map<string, ort.Tensor>();
    const take = (key: string, input: string, dims: number[]) => {
      const t = state.tensors.get(key);
      if (!t) throw new UserError(`${this.label}: checkpoint has no tensor "${key}"`);
      if (t.dims.length !== dims.length || t.dims.some((d, i) => d !== dims[i])) {
        throw new UserError(`${this.label}: checkpoint tensor "${key}" has dims [${t.dims.join(', ')}], the model has [${dims.join(', ')}]`);
      }
      next.set(input, new ort.Tensor('float32', t.data.slice(), dims));
    };
    for (const p of this.graph.params) {
      take(p.name, p.input, p.dims);
      p.stateInputs.forEach((s, i) => take(`${p.name}#${this.graph.stateNames[i]}`, s, p.dims));
    }
    for (const [k, v] of next) this.values.set(k, v);
    this.steps = state.step;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** A TrainerState as an ONNX model holding only initializers (save it with saveModel). */
export function trainerStateToModel(state: TrainerState): ModelProto {
  return {
    irVersion: 8,
    producerName: 'onnx-distillery trainer state',
    opsetImport: [{ version: 17 }],
    metadataProps: [
      { key: 'step', value: String(state.step) },
      { key: 'optimizer', value: state.optimizer },
    ],
    graph: {
      name: 'trainer_state',
      node: [],
      input: [],
      output: [],
      initializer: [...state.tensors].map(([name, t]) => makeTensor(name, t.data, t.dims)),
    },
  };
}

export function trainerStateFromModel(model: ModelProto, label = 'checkpoint'): TrainerState {
  const meta = new Map((model.metadataProps ?? []).map((p) => [p.key ?? '', p.value ?? '']));
  const step = Number(meta.get('step'));
  if (!Number.isInteger(step) || step < 0 || !meta.get('optimizer')) throw new UserError(`${label}: not a trainer state file (no step/optimizer metadata)`);
  const tensors = new Map<string, { dims: number[]; data: Float32Array }>();
  for (const t of model.graph?.initializer ?? []) tensors.set(t.name ?? '', { dims: tensorDims(t), data: tensorToFloat32(t).slice() });
  return { step, optimizer: meta.get('optimizer')!, tensors };
}
