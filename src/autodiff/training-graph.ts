/**
 * The training graph: one ONNX graph that runs forward, loss, backward and the optimizer step.
 *
 * Inputs: the model's own inputs; every trainable weight (moved from initializer to graph
 * input under its own name); the optimizer state per weight (`<w>.m`, `<w>.v` for AdamW,
 * `<w>.momentum` for SGD; zeros at the start); the loss inputs (`labels` int64 [B],
 * `teacher_logits` float [B, C], `hard_weight` float [B], each only when the loss uses it);
 * the per-step optimizer scalars (`opt.step_size`, `opt.eps_hat`, `opt.decay_factor` for
 * AdamW, `opt.lr` for SGD).
 * Outputs: the loss (and its teacher / hard-label terms), the logits, the global gradient
 * norm (before clipping), and per weight either the whole new weight and state (`<w>.new`,
 * `<w>.m.new`, ...) or, for embedding tables updated by rows, the touched rows (`<w>.rows`)
 * with their new values (`<w>.new_rows`, `<w>.m.new_rows`, ...).
 *
 * Frozen weights stay initializers. Candidates that no gradient reaches stay initializers too
 * (reported in `unreached`). Embedding tables that are only read by axis-0 Gathers get row
 * gradients and lazy row updates unless `sparseEmbeddings` is false: a dense AdamW step over
 * BERT's 30522 x 128 word embeddings alone costs ~60 ms on 2 cores, more than the rest of a
 * training step; with rows it costs the few hundred rows a batch touches.
 */
import { UserError } from '../errors.js';
import {
  assertValidModel,
  DataType,
  GraphBuilder,
  attrInt,
  cloneForEditing,
  consumersOf,
  initializersOf,
  makeValueInfo,
  removeDeadNodes,
  tensorDims,
  toNumber,
  type ModelProto,
  type NodeProto,
} from '../onnx/index.js';
import { addProjections, appendIntermediateLoss, type IntermediateLossSpec, type Projection, type TeacherInput } from './intermediate-loss.js';
import { appendLoss, type LossSpec } from './loss-graph.js';
import { appendOptimizer, optimizerStateNames, resolveOptimizer, type OptimizerSpec, type ParamToUpdate, type ResolvedOptimizerSpec } from './optimizer-graph.js';
import type * as ort from 'onnxruntime-node';
import { appendBackward } from './backward.js';
import { GradEmitter } from './emit.js';
import { embeddingRowGradient } from './embedding-rows.js';
import { findDropoutSites, insertDropout, type DropoutSite } from './dropout-sites.js';
import { prepareTrainingOpset } from './opset.js';
import { gradientPath } from './prune.js';
import { factsValueInfo, isFloatType, probeValueFacts, type StaticDim } from './shapes.js';

export interface TrainingGraphOptions {
  /** Initializers to train. */
  trainable: readonly string[];
  loss: LossSpec;
  /**
   * Hidden-state and attention losses against the teacher's values (fed per batch as the graph
   * inputs listed in `teacherInputs`), added to `loss`. Their projections train with the model.
   */
  intermediate?: IntermediateLossSpec;
  optimizer: OptimizerSpec;
  /** The logits output (default: the model's first output). */
  logits?: string;
  /** Update embedding tables by the rows a batch touches (default true). */
  sparseEmbeddings?: boolean;
  /** Which weights get weight decay (default: rank >= 2, i.e. not biases or LayerNorm weights). */
  decay?: (name: string, dims: readonly number[]) => boolean;
  /**
   * Training-time dropout rate at Hugging Face BERT's places (attention probabilities, dense
   * outputs before residual adds, embeddings, classifier input; see dropout-sites.ts). Default 0.
   */
  dropout?: number;
  /** Seed of the dropout masks (default 0). */
  seed?: number;
  /** Names the model in error messages. */
  label?: string;
  /** Sample feeds for the shape probe (see probeValueFacts). */
  sampleFeeds?: (sizes: Map<string, number>, run: 0 | 1) => Record<string, ort.Tensor>;
}

export interface TrainableParam {
  name: string;
  dims: number[];
  decay: boolean;
  /** Updated by rows (an embedding table): the outputs hold only the touched rows. */
  sparse: boolean;
  /** Graph input with the current weights (the weight's own name). */
  input: string;
  /** Graph inputs with the optimizer state, in `stateNames` order. */
  stateInputs: string[];
  /** Graph output with the new weights (or new rows). */
  weightOutput: string;
  stateOutputs: string[];
  /** Graph output with the row indices (sparse only). */
  rows?: string;
}

export interface TrainingGraph {
  model: ModelProto;
  params: TrainableParam[];
  /** Optimizer state tensors per weight ('m', 'v' / 'momentum'). */
  stateNames: string[];
  optimizer: ResolvedOptimizerSpec;
  /** The model's own inputs, fed from the batch. */
  dataInputs: string[];
  labels?: string;
  teacherLogits?: string;
  hardWeight?: string;
  /** Per-step scalar inputs by optimizerScalars() key. */
  scalarInputs: Record<string, string>;
  loss: string;
  softLoss?: string;
  hardLoss?: string;
  /** Scalar intermediate terms (already weighted). */
  hiddenLoss?: string;
  attentionLoss?: string;
  /** Graph inputs for the teacher's intermediate values. */
  teacherInputs: TeacherInput[];
  /** Trainable weights of the training graph that are not in the model (the trainer starts them from `init`). */
  projections: Projection[];
  logits: string;
  /** Number of classes when fixed. */
  numLabels: StaticDim;
  gradNorm: string;
  /** Trainable candidates no gradient reaches (left as initializers). */
  unreached: string[];
  /** Where dropout was inserted. */
  dropout: DropoutSite[];
  /** Nodes: forward, and added for loss + backward + optimizer. */
  nodeCounts: { forward: number; added: number };
}

export async function buildTrainingGraph(source: ModelProto, opts: TrainingGraphOptions): Promise<TrainingGraph> {
  const label = opts.label ?? 'model';
  const optimizer = resolveOptimizer(opts.optimizer);
  const model = cloneForEditing(source);
  prepareTrainingOpset(model, label);
  const graph = model.graph!;
  const logits = opts.logits ?? graph.output?.[0]?.name ?? '';
  if (!(graph.output ?? []).some((o) => o.name === logits)) throw new UserError(`${label}: has no output named "${logits}"`);
  const dropout = opts.dropout ? findDropoutSites(graph, logits) : [];
  insertDropout(GraphBuilder.extend(model), dropout, opts.dropout ?? 0, opts.seed ?? 0);
  const intermediate = opts.intermediate && (opts.intermediate.hidden?.pairs.length || opts.intermediate.attention) ? opts.intermediate : undefined;
  const { compared, projections } = intermediate ? addProjections(GraphBuilder.extend(model), intermediate) : { compared: [], projections: [] };
  const trainable: string[] = [...opts.trainable, ...projections.map((p) => p.name)];
  const inits = initializersOf(graph);
  for (const name of trainable) {
    const t = inits.get(name);
    if (!t) throw new UserError(`${label}: trainable weight "${name}" is not an initializer of the model`);
    if (t.dataType !== DataType.FLOAT) throw new UserError(`${label}: trainable weight "${name}" is not float32`);
  }
  const facts = await probeValueFacts(model, { sampleFeeds: opts.sampleFeeds, label });
  if (!isFloatType(facts.get(logits)?.elemType) || facts.get(logits)!.dims.length !== 2) {
    throw new UserError(`${label}: output "${logits}" is not float logits of shape [batch, classes]`);
  }
  const forwardNodes = graph.node!.length;

  // Tables read only by axis-0 Gathers train by rows; the Gathers' outputs are what we differentiate.
  const consumers = consumersOf(graph);
  const lookupsOf = new Map<string, NodeProto[]>();
  if (opts.sparseEmbeddings ?? true) {
    for (const name of trainable) {
      const users = consumers.get(name) ?? [];
      const gathers = users.filter((n) => n.opType === 'Gather' && !n.domain && n.input?.[0] === name && attrInt(n, 'axis', 0) === 0);
      const isOutput = graph.output!.some((o) => o.name === name);
      if (gathers.length && gathers.length === users.length && !isOutput) lookupsOf.set(name, gathers);
    }
  }
  const isFloat = (v: string) => isFloatType(facts.get(v)?.elemType);
  const wrtOf = (name: string) => (lookupsOf.has(name) ? lookupsOf.get(name)!.map((n) => n.output![0]!) : [name]);
  const seedValues = [logits, ...compared, ...(intermediate?.attention ? [intermediate.attention.student] : [])];
  const path = gradientPath(graph, trainable.flatMap(wrtOf), seedValues, isFloat, label);
  const reached = trainable.filter((n) => wrtOf(n).some((v) => path.reached.has(v)));
  const unreached = trainable.filter((n) => !reached.includes(n));
  if (!reached.length) throw new UserError(`${label}: no trainable weight influences "${logits}"; nothing to train`);

  // Trainable weights become graph inputs under their own names.
  const reachedSet = new Set(reached);
  const dimsOf = new Map(reached.map((n) => [n, tensorDims(inits.get(n)!)]));
  graph.initializer = graph.initializer!.filter((t) => !reachedSet.has(t.name ?? ''));
  // (Models from before IR 4 also list initializers as inputs.)
  graph.input = graph.input!.filter((v) => !reachedSet.has(v.name ?? ''));
  for (const n of reached) graph.input.push(makeValueInfo(n, DataType.FLOAT, dimsOf.get(n)!));

  const b = GraphBuilder.extend(model);
  const e = new GradEmitter(b, facts);
  const dataInputs = graph.input.map((v) => v.name ?? '').filter((n) => !reachedSet.has(n) && !inits.has(n));
  const lossGraph = appendLoss(b, logits, opts.loss);
  e.setFact(lossGraph.dLogits, facts.get(logits)!);

  const seeds = new Map([[logits, lossGraph.dLogits]]);
  let totalLoss = lossGraph.loss;
  const inter = intermediate ? appendIntermediateLoss(b, intermediate, compared) : undefined;
  if (inter) {
    for (const [value, g] of inter.seeds) seeds.set(value, e.setFact(g, facts.get(value)!));
    totalLoss = b.op('Add', [lossGraph.loss, inter.loss], undefined, { name: 'loss/with_intermediate' });
  }
  const backward = appendBackward(e, { wrt: reached.flatMap(wrtOf), seeds, label });
  const decay = opts.decay ?? ((_: string, dims: readonly number[]) => dims.length >= 2);
  const updates: ParamToUpdate[] = [];
  for (const name of reached) {
    const dims = dimsOf.get(name)!;
    const common = { name, weight: name, dims, decay: decay(name, dims) };
    const gathers = lookupsOf.get(name);
    if (gathers) {
      const lookups = gathers
        .filter((n) => backward.grads.has(n.output![0]!))
        .map((n) => ({ indices: n.input![1]!, dy: backward.grads.get(n.output![0]!)! }));
      const { rows, grad } = embeddingRowGradient(e, name, lookups);
      updates.push({ ...common, grad, rows });
    } else {
      updates.push({ ...common, grad: backward.grads.get(name)! });
    }
  }
  const opt = appendOptimizer(b, updates, optimizer);

  // Outputs: loss terms, logits, grad norm, new weights and state.
  const outputs = [makeValueInfo(b.op('Identity', [totalLoss], undefined, { outputs: [b.names.take('loss')] }), DataType.FLOAT, [])];
  const extraScalar = (value: string | undefined, base: string) =>
    value ? (outputs.push(makeValueInfo(b.op('Identity', [value], undefined, { outputs: [b.names.take(base)] }), DataType.FLOAT, [])), outputs.at(-1)!.name!) : undefined;
  const softLoss = extraScalar(lossGraph.softLoss, 'loss_soft');
  const hardLoss = extraScalar(lossGraph.hardLoss, 'loss_hard');
  const hiddenLoss = extraScalar(inter?.hiddenLoss, 'loss_hidden');
  const attentionLoss = extraScalar(inter?.attentionLoss, 'loss_attention');
  const gradNorm = extraScalar(opt.gradNorm, 'grad_norm')!;
  outputs.push(factsValueInfo(logits, facts.get(logits)!, (i) => `${logits}_d${i}`));
  const params: TrainableParam[] = opt.params.map((io, k) => {
    const u = updates[k]!;
    // Symbolic dims name one size each: onnxruntime plans buffer reuse by them.
    const rowDims: Array<number | string> = u.rows ? [`${u.name}.rows`, ...u.dims.slice(1)] : u.dims;
    outputs.push(makeValueInfo(io.weightOutput, DataType.FLOAT, rowDims));
    for (const s of io.stateOutputs) outputs.push(makeValueInfo(s, DataType.FLOAT, rowDims));
    if (io.rows) outputs.push(makeValueInfo(io.rows, DataType.INT64, [`${u.name}.rows`]));
    return {
      name: u.name,
      dims: u.dims,
      decay: u.decay,
      sparse: !!u.rows,
      input: u.name,
      stateInputs: io.stateInputs,
      weightOutput: io.weightOutput,
      stateOutputs: io.stateOutputs,
      ...(io.rows ? { rows: io.rows } : {}),
    };
  });
  graph.output = outputs;
  removeDeadNodes(graph);
  const built = b.build({ irVersion: Math.max(toNumber(model.irVersion), b.opset <= 17 ? 8 : 9) });
  built.producerName = 'onnx-distillery training graph';
  assertValidModel(built, `${label} (training graph)`);
  return {
    model: built,
    params,
    stateNames: optimizerStateNames(optimizer),
    optimizer,
    dataInputs,
    ...(lossGraph.labels ? { labels: lossGraph.labels } : {}),
    ...(lossGraph.teacherLogits ? { teacherLogits: lossGraph.teacherLogits } : {}),
    ...(lossGraph.hardWeight ? { hardWeight: lossGraph.hardWeight } : {}),
    scalarInputs: opt.scalarInputs,
    loss: outputs[0]!.name!,
    ...(softLoss ? { softLoss } : {}),
    ...(hardLoss ? { hardLoss } : {}),
    ...(hiddenLoss ? { hiddenLoss } : {}),
    ...(attentionLoss ? { attentionLoss } : {}),
    teacherInputs: inter?.teacherInputs ?? [],
    projections: projections.filter((p) => reachedSet.has(p.name)),
    logits,
    numLabels: facts.get(logits)!.dims[1]!,
    gradNorm,
    unreached,
    dropout,
    nodeCounts: { forward: forwardNodes, added: built.graph!.node!.length - forwardNodes },
  };
}
