/**
 * Options, events and results of `distill()` and `train()`, mirroring the CLI flags, and the
 * checks that turn user values into a resolved recipe.
 */
import type { DatasetOptions } from '../data/dataset.js';
import { UserError } from '../errors.js';
import type { Device } from '../runtime/device.js';
import type { EvalPoint } from './checkpoint.js';
import type { LossKind, LossSpec } from './losses.js';
import type { OptimizerKind } from './optimizer.js';
import type { DecayKind } from './schedule.js';
import type { ArchitectureSpec } from './student-config.js';

/** How to train: shared by distill and train. */
export interface TrainingRecipe {
  /** Passes over the training set (default 3). */
  epochs?: number;
  /** Stop after this many optimizer steps (the schedule spans min(epochs, maxSteps)). */
  maxSteps?: number;
  /** Default 32. */
  batchSize?: number;
  /** Peak learning rate (default 5e-4). */
  lr?: number;
  /** Seeds the student's initialisation and the batch order (default 0). */
  seed?: number;
  /** Warmup: a fraction of the steps when < 1, else steps (default 0.06). */
  warmup?: number;
  /** Decay after warmup (default linear). */
  schedule?: DecayKind;
  /** Default adamw. */
  optimizer?: OptimizerKind;
  /** Default 0.01 (not on biases or LayerNorm weights). */
  weightDecay?: number;
  /** SGD momentum (default 0.9). */
  momentum?: number;
  /** Global-norm gradient clipping (default 1; 0 disables). */
  maxGradNorm?: number;
  /** Freeze patterns: `embeddings`, a name substring, a glob with `*`, or `/regex/`. */
  freeze?: string[];
  /**
   * Training-time dropout at BERT's places (default 0: none). Masks are seeded by `seed`; a
   * resumed run with dropout draws fresh masks (equivalent, not bit-identical).
   */
  dropout?: number;
  /** Evaluate every N steps as well as after every epoch. */
  evalEvery?: number;
  /** Stop after N evaluations without a better validation accuracy. */
  patience?: number;
  /**
   * Which weights to write: the best on validation (highest accuracy, ties to the lower
   * validation loss; default when there is validation data) or the last.
   */
  select?: 'best' | 'last';
  /** Also write the last checkpoint every N steps (it is always written after each evaluation and epoch). */
  saveEvery?: number;
  /** Continue the run in the checkpoint directory. */
  resume?: boolean;
  /** Default: `<output without .onnx>.checkpoints/` next to the output. */
  checkpointDir?: string;
  /** JSONL log of every step (default `<output>.log.jsonl`). */
  log?: string;
  /** Batches per length-sorted chunk (default 100; 0: random batches without length bucketing). */
  bucket?: number;
  /**
   * onnxruntime intra-op threads of the training, teacher and validation sessions (default:
   * onnxruntime's, one per core). Training is bit-reproducible for a given seed and thread count.
   */
  threads?: number;
  device?: Device;
  /** Longest input in tokens (default: the position table). */
  maxLength?: number;
  /** Examples per validation batch (default 64). */
  evalBatchSize?: number;
  /** Overwrite existing outputs. */
  force?: boolean;
  /** Stops the run after the current step (a checkpoint is written first). */
  signal?: AbortSignal;
}

export interface DataSelection {
  /** Labelled training data (.csv, .tsv, .jsonl). */
  train: string;
  /** Labelled validation data: accuracy after every epoch, best checkpoint, early stopping. */
  val?: string;
  /** Column choices for train and val (default: detected). */
  dataset?: Omit<DatasetOptions, 'requireLabel'>;
  /** Label names in id order (comma-separated or a file). */
  labels?: string;
}

export interface DistillOptions extends TrainingRecipe, DataSelection {
  teacher: string;
  /** The student to train (an ONNX classifier with its tokenizer next to it)... */
  student?: string;
  /** ...or the shape of a fresh BERT student (`layers=2,hidden=128,heads=2,ffn=512`). */
  studentConfig?: string | ArchitectureSpec;
  /** Texts the teacher labels (soft targets only), mixed with the training set: .txt (a text per line), .csv, .tsv, .jsonl. */
  unlabeled?: string[];
  /** Output model path; config.json, tokenizer files, log and checkpoints go next to it. */
  output: string;
  /** Default kl. */
  loss?: LossKind;
  /** Default 2. */
  temperature?: number;
  /** Weight of the teacher term (default 0.5). */
  alpha?: number;
  /** Examples per teacher batch when computing its logits (default 64). */
  teacherBatchSize?: number;
  /** Read cached teacher logits when present (default true). */
  teacherCache?: boolean;
}

export interface TrainOptions extends TrainingRecipe, DataSelection {
  /** Start from this ONNX classifier (its tokenizer and config.json next to it)... */
  model?: string;
  /** ...or build a fresh BERT classifier of this shape (`layers=4,hidden=256,heads=4,ffn=1024`). */
  config?: string | ArchitectureSpec;
  /** Tokenizer for a fresh model (vocab.txt, tokenizer.json or their folder)... */
  tokenizer?: string;
  /** ...or build a WordPiece vocabulary of this many tokens from the training texts. */
  buildVocab?: number;
  output: string;
}

export type TrainingPhase = 'reading' | 'teacher' | 'building' | 'training' | 'evaluating' | 'writing';

export type TrainingEvent =
  | { type: 'phase'; phase: TrainingPhase; message: string }
  | { type: 'teacher-progress'; done: number; total: number }
  | {
      type: 'step';
      step: number;
      totalSteps: number;
      /** Fractional epochs done. */
      epoch: number;
      epochs: number;
      loss: number;
      lr: number;
      examplesPerSecond: number;
      etaSeconds: number;
    }
  | { type: 'eval'; step: number; epoch: number; accuracy: number; loss: number; best: boolean }
  | { type: 'warning'; message: string };

export type TrainingEvents = (event: TrainingEvent) => void;

export interface TrainedModelSummary {
  path: string;
  /** Validation accuracy in [0, 1], when there is validation data. */
  accuracy?: number;
  parameters: number;
  /** Model file size. */
  bytes: number;
}

export interface TrainingResult {
  files: {
    model: string;
    config: string;
    tokenizer: string[];
    log: string;
    checkpointDir: string;
  };
  /** The written model (the selected weights). */
  student: TrainedModelSummary;
  /** Validation accuracy of the starting weights (step 0), when evaluated. */
  initialAccuracy?: number;
  selected: 'best' | 'last';
  best?: EvalPoint;
  steps: number;
  totalSteps: number;
  epochs: number;
  stopReason: 'completed' | 'max-steps' | 'early-stopping';
  examplesSeen: number;
  trainExamples: number;
  /** Wall time of the whole call, and of the training steps alone. */
  seconds: number;
  trainSeconds: number;
  /** Training examples per second (steps only: forward, loss, backward, update). */
  examplesPerSecond: number;
  /** (step, loss) of every step. */
  losses: Array<[step: number, loss: number]>;
  evals: EvalPoint[];
  warnings: string[];
}

export interface DistillResult extends TrainingResult {
  teacher: TrainedModelSummary;
  /** student accuracy / teacher accuracy. */
  retention?: number;
  teacherLogits: { cached: boolean; seconds: number; examples: number };
  unlabeledExamples: number;
}

export interface ResolvedRecipe {
  epochs: number;
  maxSteps?: number;
  batchSize: number;
  lr: number;
  seed: number;
  warmup: number;
  schedule: DecayKind;
  optimizer: OptimizerKind;
  weightDecay: number;
  momentum: number;
  maxGradNorm: number;
  freeze: string[];
  dropout: number;
  evalEvery?: number;
  patience?: number;
  select: 'best' | 'last';
  saveEvery?: number;
  bucket: number;
  threads?: number;
  device?: Device;
  evalBatchSize: number;
}

/** Checks the recipe's values (UserErrors name the flag) and fills the defaults. */
export function resolveRecipe(o: TrainingRecipe, hasValidation: boolean): ResolvedRecipe {
  const int = (v: number | undefined, flag: string, min: number) => {
    if (v !== undefined && (!Number.isInteger(v) || v < min)) throw new UserError(`${flag} must be an integer >= ${min}, got ${v}`);
    return v;
  };
  const num = (v: number | undefined, flag: string, ok: (x: number) => boolean, what: string) => {
    if (v !== undefined && !(Number.isFinite(v) && ok(v))) throw new UserError(`${flag} must be ${what}, got ${v}`);
    return v;
  };
  const schedule = o.schedule ?? 'linear';
  if (!['linear', 'cosine', 'constant'].includes(schedule)) throw new UserError(`--schedule must be linear, cosine or constant, got ${schedule}`);
  const optimizer = o.optimizer ?? 'adamw';
  if (optimizer !== 'adamw' && optimizer !== 'sgd') throw new UserError(`--optimizer must be adamw or sgd, got ${String(optimizer)}`);
  const select = o.select ?? (hasValidation ? 'best' : 'last');
  if (select !== 'best' && select !== 'last') throw new UserError(`--select must be best or last, got ${String(select)}`);
  if (select === 'best' && !hasValidation) throw new UserError('--select best needs validation data (--val)');
  if ((o.patience !== undefined || o.evalEvery !== undefined) && !hasValidation) {
    throw new UserError(`${o.patience !== undefined ? '--patience' : '--eval-every'} needs validation data (--val)`);
  }
  return {
    epochs: int(o.epochs, '--epochs', 1) ?? 3,
    maxSteps: int(o.maxSteps, '--max-steps', 1),
    batchSize: int(o.batchSize, '--batch-size', 1) ?? 32,
    lr: num(o.lr, '--lr', (x) => x > 0, 'a positive number') ?? 5e-4,
    seed: int(o.seed, '--seed', 0) ?? 0,
    warmup: num(o.warmup, '--warmup', (x) => x >= 0 && (x < 1 || Number.isInteger(x)), 'a fraction in [0, 1) or a whole number of steps') ?? 0.06,
    schedule,
    optimizer,
    weightDecay: num(o.weightDecay, '--weight-decay', (x) => x >= 0, 'a number >= 0') ?? 0.01,
    momentum: num(o.momentum, '--momentum', (x) => x >= 0 && x < 1, 'in [0, 1)') ?? 0.9,
    maxGradNorm: num(o.maxGradNorm, '--max-grad-norm', (x) => x >= 0, 'a number >= 0') ?? 1,
    freeze: o.freeze ?? [],
    dropout: num(o.dropout, '--dropout', (x) => x >= 0 && x < 1, 'in [0, 1)') ?? 0,
    evalEvery: int(o.evalEvery, '--eval-every', 1),
    patience: int(o.patience, '--patience', 1),
    select,
    saveEvery: int(o.saveEvery, '--save-every', 1),
    bucket: int(o.bucket, '--bucket', 0) ?? 100,
    threads: int(o.threads, '--threads', 1),
    device: o.device,
    evalBatchSize: int(o.evalBatchSize, '--eval-batch-size', 1) ?? 64,
  };
}

/** The loss from the distill options: kl (default), mse or ce; T = 2 and alpha = 0.5 by default. */
export function resolveLossSpec(o: Pick<DistillOptions, 'loss' | 'temperature' | 'alpha'>): LossSpec {
  const kind = o.loss ?? 'kl';
  if (!['kl', 'kd', 'mse', 'ce'].includes(kind)) throw new UserError(`--loss must be kl, mse or ce, got ${String(kind)}`);
  const temperature = o.temperature ?? 2;
  if (!(Number.isFinite(temperature) && temperature > 0)) throw new UserError(`--temperature must be > 0, got ${temperature}`);
  const alpha = o.alpha ?? 0.5;
  if (!(alpha >= 0 && alpha <= 1)) throw new UserError(`--alpha must be in [0, 1], got ${alpha}`);
  return kind === 'ce' ? { kind } : { kind, temperature, alpha };
}
