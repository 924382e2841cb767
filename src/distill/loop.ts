/**
 * The training engine behind `distill` and `train`: epochs of seeded, length-bucketed batches
 * through a Trainer (one onnxruntime run per optimizer step), the learning-rate schedule,
 * validation accuracy after every epoch (and every `evalEvery` steps) on the in-memory
 * inference model, the best model kept, early stopping, checkpoints for `--resume`, a JSONL
 * line per step, and a clean stop with the last good checkpoint when the loss diverges.
 */
import { createHash } from 'node:crypto';
import { makeBatches, type Batch } from '../data/batching.js';
import type { EncodedExample } from '../data/encode.js';
import { buildFeeds, planFeeds, type FeedPlanEntry } from '../data/feeds.js';
import { ExitCode, UserError } from '../errors.js';
import { argmaxRows } from '../eval/metrics.js';
import { DataType, encodeModel, runtimeInputs, valueElemType, valueShape, type ModelProto } from '../onnx/index.js';
import { openSession, type ort } from '../runtime/session.js';
import {
  freshLoopState,
  loadBestModel,
  loadCheckpoint,
  saveBestModel,
  saveCheckpoint,
  type EvalPoint,
  type LoopState,
} from './checkpoint.js';
import { epochBatches } from './epoch-order.js';
import type { IntermediateLossSpec } from '../autodiff/intermediate-loss.js';
import type { TeacherIntermediates } from './intermediate.js';
import type { LossSpec } from './losses.js';
import type { ResolvedRecipe, TrainingEvents } from './options.js';
import { learningRateAt, type ScheduleOptions } from './schedule.js';
import type { JsonlLog } from './train-log.js';
import { createTrainer } from './trainer.js';

/** Training stopped on a non-finite loss or gradient; the last good weights are checkpointed. */
export class DivergedError extends UserError {
  constructor(
    message: string,
    readonly step: number,
    readonly checkpointDir: string,
  ) {
    super(message, ExitCode.diverged);
    this.name = 'DivergedError';
  }
}

export interface EngineSetup {
  /** Names the model in messages ("student", "model"). */
  label: string;
  model: ModelProto;
  examples: readonly EncodedExample[];
  /** [examples, numLabels] row-major, aligned with `examples` (distillation). */
  teacherLogits?: Float32Array;
  numLabels: number;
  padId: number;
  validation?: readonly EncodedExample[];
  loss: LossSpec;
  /** Hidden-state / attention losses, with the teacher's values for each batch. */
  intermediate?: { spec: IntermediateLossSpec; teacher: TeacherIntermediates };
  recipe: ResolvedRecipe;
  checkpointDir: string;
  log: JsonlLog;
  /** Settings a resumed run must share with the checkpoint (besides the data and batching). */
  fingerprint: string;
  resume: boolean;
  events?: TrainingEvents;
  signal?: AbortSignal;
}

export interface EngineResult {
  /** The inference model with the selected weights. */
  model: ModelProto;
  selected: 'best' | 'last';
  /** Validation accuracy of the selected weights. */
  accuracy?: number;
  initialAccuracy?: number;
  best?: EvalPoint;
  steps: number;
  totalSteps: number;
  stopReason: 'completed' | 'max-steps' | 'early-stopping';
  examplesSeen: number;
  trainSeconds: number;
  losses: Array<[number, number]>;
  evals: EvalPoint[];
}

/** How to fill the model's inputs, from its declared graph inputs. */
export function feedPlanOf(model: ModelProto, label: string): FeedPlanEntry[] {
  const inputs = runtimeInputs(model.graph);
  const meta = inputs.map((v) => {
    const t = valueElemType(v);
    const type = t === DataType.INT64 ? 'int64' : t === DataType.INT32 ? 'int32' : `element type ${t}`;
    return { name: v.name ?? '', isTensor: true, type, shape: valueShape(v) ?? [] } as unknown as ort.InferenceSession.ValueMetadata;
  });
  return planFeeds(meta, label);
}

/** Validation accuracy of in-memory models on examples tokenized once. */
export class Validation {
  private readonly batches: Batch[];
  private readonly labels: Int32Array;

  constructor(
    examples: readonly EncodedExample[],
    private readonly plan: FeedPlanEntry[],
    batchSize: number,
    padId: number,
    private readonly settings: { threads?: number; device?: ResolvedRecipe['device'] },
  ) {
    this.batches = makeBatches(examples, batchSize, { sortByLength: true, padId });
    this.labels = Int32Array.from(examples, (e) => e.label);
  }

  /** Accuracy and mean cross-entropy of a model on the validation examples. */
  async score(model: ModelProto): Promise<{ accuracy: number; loss: number }> {
    const { session } = await openSession(encodeModel(model), { threads: this.settings.threads, device: this.settings.device });
    try {
      const output = session.outputNames.includes('logits') ? 'logits' : session.outputNames[0]!;
      let correct = 0;
      let lossSum = 0;
      for (const batch of this.batches) {
        const out = (await session.run(buildFeeds(this.plan, batch), [output]))[output]!;
        const width = out.dims[1]!;
        const logits = out.data as Float32Array;
        const preds = argmaxRows(logits, width);
        for (let r = 0; r < batch.size; r++) {
          const y = this.labels[batch.indices[r]!]!;
          if (preds[r] === y) correct++;
          lossSum += crossEntropy(logits.subarray(r * width, (r + 1) * width), y);
        }
      }
      const n = this.labels.length;
      return { accuracy: n ? correct / n : 0, loss: n ? lossSum / n : 0 };
    } finally {
      await session.release();
    }
  }
}

/** -log softmax(logits)[y], computed stably. */
function crossEntropy(logits: Float32Array, y: number): number {
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  let sum = 0;
  for (const v of logits) sum += Math.exp(v - max);
  return Math.log(sum) + max - logits[y]!;
}

/** Better: higher accuracy, or the same accuracy with a lower validation loss. */
function better(a: EvalPoint, b: EvalPoint | undefined): boolean {
  return !b || a.accuracy > b.accuracy || (a.accuracy === b.accuracy && a.loss < b.loss);
}

/** A cheap digest of the tokenized data, batch size, seed and bucketing: what fixes the batch order. */
function runFingerprint(s: EngineSetup): string {
  const h = createHash('sha256');
  h.update(JSON.stringify([s.fingerprint, s.examples.length, s.recipe.batchSize, s.recipe.seed, s.recipe.bucket, s.loss.kind, s.intermediate?.spec ?? null]));
  const buf = new Int32Array(4096);
  let n = 0;
  const push = (v: number) => {
    buf[n++] = v;
    if (n === buf.length) {
      h.update(new Uint8Array(buf.buffer));
      n = 0;
    }
  };
  for (const e of s.examples) {
    push(e.label);
    push(e.ids.length);
    for (const id of e.ids) push(id);
  }
  h.update(new Uint8Array(buf.buffer, 0, n * 4));
  return h.digest('hex').slice(0, 24);
}

export async function runTraining(s: EngineSetup): Promise<EngineResult> {
  const r = s.recipe;
  const events = s.events ?? (() => {});
  const n = s.examples.length;
  if (n === 0) throw new UserError(`${s.label}: no training examples`);
  const stepsPerEpoch = Math.ceil(n / r.batchSize);
  const totalSteps = Math.min(r.epochs * stepsPerEpoch, r.maxSteps ?? Infinity);
  const schedule: ScheduleOptions = { peakLr: r.lr, totalSteps, warmup: r.warmup, decay: r.schedule };
  const lengths = Int32Array.from(s.examples, (e) => e.ids.length);
  const fingerprint = runFingerprint(s);
  const plan = feedPlanOf(s.model, s.label);
  const validation = s.validation?.length ? new Validation(s.validation, plan, r.evalBatchSize, s.padId, r) : undefined;
  const C = s.numLabels;
  if (s.teacherLogits && s.teacherLogits.length !== n * C) throw new Error(`teacher logits for ${s.teacherLogits.length / C} examples, ${n} given`);

  events({ type: 'phase', phase: 'building', message: `building the training graph of the ${s.label}` });
  const trainer = await createTrainer(s.model, {
    loss: s.loss,
    ...(s.intermediate ? { intermediate: s.intermediate.spec } : {}),
    optimizer: { kind: r.optimizer, weightDecay: r.weightDecay, momentum: r.momentum, maxGradNorm: r.maxGradNorm },
    freeze: r.freeze,
    dropout: r.dropout,
    seed: r.seed,
    // onnxruntime's default (one per core) unless asked, like the teacher and validation
    // sessions. Embedding-row gradients sum with ScatterElements: exact, and bit-reproducible for
    // a given thread count (not ScatterND, whose CPU add races on repeated rows; embedding-rows.ts).
    threads: r.threads,
    device: r.device,
    label: s.label,
  });
  try {
    let loop: LoopState;
    let bestModel: ModelProto | undefined;
    let initialAccuracy: number | undefined;
    if (s.resume) {
      const ck = await loadCheckpoint(s.checkpointDir);
      if (ck.loop.fingerprint !== fingerprint) {
        throw new UserError(
          `${s.checkpointDir}: the checkpoint was made with other data, batch size, seed, bucketing or loss; resume with the same ones (or start over with --force)`,
        );
      }
      trainer.importState(ck.state);
      loop = ck.loop;
      initialAccuracy = loop.evals.find((e) => e.step === 0)?.accuracy;
      s.log.write({ type: 'resume', step: loop.step, epoch: loop.epoch, batchInEpoch: loop.batchInEpoch });
    } else {
      loop = freshLoopState(fingerprint);
    }
    const checkpoint = async () => saveCheckpoint(s.checkpointDir, trainer.exportState(), loop);
    const epochOf = (step: number) => step / stepsPerEpoch;

    const evaluate = async (): Promise<boolean> => {
      events({ type: 'phase', phase: 'evaluating', message: `validation at step ${loop.step}` });
      const model = trainer.inferenceModel();
      const { accuracy, loss } = await validation!.score(model);
      const point: EvalPoint = { step: loop.step, epoch: epochOf(loop.step), accuracy, loss };
      const improved = better(point, loop.best);
      loop.evals.push(point);
      if (improved) {
        loop.best = point;
        loop.evalsSinceBest = 0;
        if (r.select === 'best') {
          bestModel = model;
          await saveBestModel(s.checkpointDir, model);
        }
      } else {
        loop.evalsSinceBest++;
      }
      s.log.write({ type: 'eval', step: point.step, epoch: point.epoch, accuracy, loss, best: improved });
      events({ type: 'eval', step: point.step, epoch: point.epoch, accuracy, loss, best: improved });
      return r.patience !== undefined && loop.evalsSinceBest >= r.patience;
    };

    if (validation && !s.resume) {
      await evaluate();
      initialAccuracy = loop.evals[0]!.accuracy;
    }

    events({ type: 'phase', phase: 'training', message: `training: ${totalSteps} steps` });
    let stopReason: EngineResult['stopReason'] = 'completed';
    const window: Array<[number, number]> = [];
    let sessionSteps = 0;
    let sessionSeconds = 0;
    let stop = false;
    while (!stop && loop.step < totalSteps && loop.epoch < r.epochs) {
      const order = epochBatches(lengths, { batchSize: r.batchSize, seed: r.seed, epoch: loop.epoch, bucket: r.bucket });
      while (loop.batchInEpoch < order.length && loop.step < totalSteps) {
        if (s.signal?.aborted) {
          await checkpoint();
          s.log.write({ type: 'interrupted', step: loop.step });
          throw new UserError(`interrupted at step ${loop.step}; checkpoint written to ${s.checkpointDir} (continue with --resume)`, ExitCode.interrupted);
        }
        const t0 = performance.now();
        const indices = order[loop.batchInEpoch]!;
        const rows = indices.map((i) => s.examples[i]!);
        const batch = makeBatches(rows, rows.length, { sortByLength: false, padId: s.padId })[0]!;
        let teacherLogits: Float32Array | undefined;
        if (s.teacherLogits) {
          teacherLogits = new Float32Array(rows.length * C);
          indices.forEach((i, k) => teacherLogits!.set(s.teacherLogits!.subarray(i * C, (i + 1) * C), k * C));
        }
        const lr = learningRateAt(loop.step, schedule);
        const teacherValues = s.intermediate ? await s.intermediate.teacher.forBatch(batch, indices) : undefined;
        const res = await trainer.step({ feeds: buildFeeds(plan, batch, s.label), labels: batch.labels, teacherLogits, ...(teacherValues ? { teacherValues } : {}) }, lr);
        const seconds = (performance.now() - t0) / 1000;
        if (!res.applied) {
          await checkpoint();
          s.log.write({ type: 'diverged', step: loop.step + 1, loss: res.loss, gradNorm: res.gradNorm, lr });
          throw new DivergedError(
            `${s.label}: training diverged at step ${loop.step + 1} (loss ${res.loss}, gradient norm ${res.gradNorm}, lr ${lr.toExponential(2)}); ` +
              `stopped, the last good weights (step ${loop.step}) are checkpointed in ${s.checkpointDir}; try a lower --lr (or --max-grad-norm)`,
            loop.step + 1,
            s.checkpointDir,
          );
        }
        loop.step = res.step;
        loop.batchInEpoch++;
        loop.examplesSeen += rows.length;
        loop.trainSeconds += seconds;
        loop.losses.push([loop.step, res.loss]);
        sessionSteps++;
        sessionSeconds += seconds;
        window.push([rows.length, seconds]);
        if (window.length > 50) window.shift();
        const winExamples = window.reduce((a, w) => a + w[0], 0);
        const winSeconds = window.reduce((a, w) => a + w[1], 0);
        s.log.write({
          type: 'step',
          step: loop.step,
          epoch: epochOf(loop.step),
          lr,
          loss: res.loss,
          ...(res.softLoss !== undefined ? { softLoss: res.softLoss } : {}),
          ...(res.hardLoss !== undefined ? { hardLoss: res.hardLoss } : {}),
          ...(res.hiddenLoss !== undefined ? { hiddenLoss: res.hiddenLoss } : {}),
          ...(res.attentionLoss !== undefined ? { attentionLoss: res.attentionLoss } : {}),
          gradNorm: res.gradNorm,
          batchSize: rows.length,
          seqLength: batch.seqLength,
          ms: Math.round(seconds * 1000 * 100) / 100,
        });
        events({
          type: 'step',
          step: loop.step,
          totalSteps,
          epoch: epochOf(loop.step),
          epochs: r.epochs,
          loss: res.loss,
          lr,
          examplesPerSecond: winSeconds > 0 ? winExamples / winSeconds : 0,
          etaSeconds: (sessionSeconds / sessionSteps) * (totalSteps - loop.step),
        });
        const evalNow = validation && r.evalEvery !== undefined && loop.step % r.evalEvery === 0;
        if (evalNow && (await evaluate())) {
          stop = true;
          stopReason = 'early-stopping';
        }
        if (evalNow || (r.saveEvery !== undefined && loop.step % r.saveEvery === 0)) await checkpoint();
        if (stop) break;
      }
      if (stop) break;
      if (loop.batchInEpoch >= order.length) {
        loop.epoch++;
        loop.batchInEpoch = 0;
        if (validation && loop.evals.at(-1)?.step !== loop.step && (await evaluate())) {
          stop = true;
          stopReason = 'early-stopping';
        }
        await checkpoint();
      }
    }
    if (stopReason === 'completed' && loop.step < r.epochs * stepsPerEpoch) stopReason = 'max-steps';
    if (validation && loop.evals.at(-1)?.step !== loop.step) await evaluate();
    await checkpoint();

    let model: ModelProto;
    let accuracy: number | undefined = loop.evals.at(-1)?.accuracy;
    if (r.select === 'best' && loop.best) {
      model = bestModel ?? (await loadBestModel(s.checkpointDir)) ?? trainer.inferenceModel();
      accuracy = loop.best.accuracy;
    } else {
      model = trainer.inferenceModel();
    }
    s.log.write({ type: 'end', step: loop.step, stopReason, selected: r.select, accuracy, best: loop.best, trainSeconds: loop.trainSeconds });
    return {
      model,
      selected: r.select,
      ...(accuracy !== undefined ? { accuracy } : {}),
      ...(initialAccuracy !== undefined ? { initialAccuracy } : {}),
      ...(loop.best ? { best: loop.best } : {}),
      steps: loop.step,
      totalSteps,
      stopReason,
      examplesSeen: loop.examplesSeen,
      trainSeconds: loop.trainSeconds,
      losses: loop.losses,
      evals: loop.evals,
    };
  } finally {
    await trainer.release();
  }
}
