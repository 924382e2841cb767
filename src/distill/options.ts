/**
 * Options, events and results of `distill()` and `train()`, mirroring the CLI flags, and the
 * checks that turn user values into a resolved recipe.
 */
import type { DatasetOptions } from '../data/dataset.js';
import { UserError } from '../errors.js';
import type { EvalPoint } from './checkpoint.js';
import type { LossSpec } from './losses.js';
import type { MajorityBaseline } from './sanity.js';
import { distillFields, resolveFields, trainingFields, type DistillFields, type FieldValues, type ResolvedFieldValues, type TrainingFields } from './recipe-fields.js';
import type { ArchitectureSpec } from './student-config.js';

/**
 * How to train: shared by distill and train. Every field is declared once, with its flag, help
 * and default, in recipe-fields.ts (`trainingFields`).
 */
export interface TrainingRecipe extends FieldValues<TrainingFields> {
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

/** The loss and teacher fields are declared in recipe-fields.ts (`distillFields`). */
export interface DistillOptions extends TrainingRecipe, DataSelection, FieldValues<DistillFields> {
  teacher: string;
  /** The student to train (an ONNX classifier with its tokenizer next to it)... */
  student?: string;
  /** ...or the shape of a fresh BERT student (`layers=2,hidden=128,heads=2,ffn=512`). */
  studentConfig?: string | ArchitectureSpec;
  /**
   * ...or a student derived from the teacher: how many of its encoder blocks to keep (spread
   * over the depth), or which (0-based; `"0,3"` as text). With no student option at all, half
   * of the teacher's blocks, rounded up.
   */
  studentLayers?: number | number[] | string;
  /**
   * A --student-config student's embedding tables: `teacher` (default) starts them from the
   * teacher's (copied where the width matches, projected onto the teacher's top principal word
   * directions where the student is narrower); `random`: BERT initialisation.
   */
  studentEmbeddings?: 'teacher' | 'random';
  /**
   * Shrink the student's vocabulary to the tokens the training and unlabeled texts use (plus
   * special tokens and every single character the tokenizer can produce, bare and `##`):
   * rewrites its word-embedding table, tokenizer file and config.json vocab_size. A number:
   * keep only tokens used at least that many times (rarer words are then split into smaller
   * pieces; `true` is 1, which leaves the training texts' tokenization unchanged).
   */
  pruneVocab?: boolean | number;
  /** Texts the teacher labels (soft targets only), mixed with the training set: .txt (a text per line), .csv, .tsv, .jsonl. */
  unlabeled?: string[];
  /** Output model path; config.json, tokenizer files, log and checkpoints go next to it. */
  output: string;
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

/** Which teacher blocks a derived student kept. */
export interface DerivedStudentSummary {
  keptLayers: number[];
  teacherLayers: number;
  /** True when no student option was given and distill chose half the teacher's blocks. */
  byDefault: boolean;
}

/** What --prune-vocab did; accuracies on the validation data, before and after pruning the trained student. */
export interface PrunedVocabSummary {
  tokensBefore: number;
  tokensAfter: number;
  bytesBefore: number;
  bytesAfter: number;
  accuracyBefore?: number;
  accuracyAfter?: number;
}

export interface DistillResult extends TrainingResult {
  /** Present with --prune-vocab. */
  prunedVocab?: PrunedVocabSummary;
  teacher: TrainedModelSummary;
  /** Always predicting the validation set's most frequent label. */
  majority?: MajorityBaseline;
  /** Warnings about the result (student not clearly above the majority baseline, validation accuracy fell); also in `warnings`. */
  checks: string[];
  /** Present when the student was derived from the teacher's graph. */
  derivedStudent?: DerivedStudentSummary;
  /** A --student-config student's embedding tables taken from the teacher (names copied, names projected). */
  studentEmbeddings?: { copied: string[]; projected: string[] };
  /** student accuracy / teacher accuracy. */
  retention?: number;
  teacherLogits: { cached: boolean; seconds: number; examples: number };
  unlabeledExamples: number;
  /** `--augment`: perturbed copies of the training texts the teacher labelled (0 copies: none made). */
  augmentation: { copies: number; rate: number; examples: number; auto: boolean };
  /** The intermediate losses, when asked for; `cached`: the teacher's values fit the budget (`cacheBytes` for all examples). */
  intermediate?: { losses: string; layerMap: number[]; cached: boolean; cacheBytes: number };
}

/** The recipe with its defaults filled in (`select` resolved from whether there is validation data). */
export type ResolvedRecipe = ResolvedFieldValues<TrainingFields> & { select: 'best' | 'last' };

/** Checks the recipe's values (UserErrors name the flag) and fills the defaults. */
export function resolveRecipe(o: TrainingRecipe, hasValidation: boolean): ResolvedRecipe {
  const fields = resolveFields(trainingFields, { ...o }, (m) => new UserError(m));
  const select = fields.select ?? (hasValidation ? 'best' : 'last');
  if (select === 'best' && !hasValidation) throw new UserError('--select best needs validation data (--val)');
  if ((o.patience !== undefined || o.evalEvery !== undefined) && !hasValidation) {
    throw new UserError(`${o.patience !== undefined ? '--patience' : '--eval-every'} needs validation data (--val)`);
  }
  return { ...fields, select };
}

/** The loss from the distill options (defaults and checks from `distillFields`). */
export function resolveLossSpec(o: Pick<DistillOptions, 'loss' | 'temperature' | 'alpha'>): LossSpec {
  const { loss: kind, temperature, alpha } = resolveFields(distillFields, { loss: o.loss, temperature: o.temperature, alpha: o.alpha }, (m) => new UserError(m));
  return kind === 'ce' ? { kind } : { kind, temperature, alpha };
}

/** How the teacher runs (defaults and checks from `distillFields`). */
export function resolveTeacherRun(o: Pick<DistillOptions, 'teacherBatchSize' | 'teacherCache'>): { batchSize: number; useCache: boolean } {
  const r = resolveFields(distillFields, { teacherBatchSize: o.teacherBatchSize, teacherCache: o.teacherCache }, (m) => new UserError(m));
  return { batchSize: r.teacherBatchSize, useCache: r.teacherCache };
}

/** `--augment` as asked (defaults and checks from `distillFields`); `resolveAugmentCopies` turns auto into a count. */
export function resolveAugment(o: Pick<DistillOptions, 'augment' | 'augmentRate'>): { augment: number | 'auto'; rate: number } {
  const r = resolveFields(distillFields, { augment: o.augment, augmentRate: o.augmentRate }, (m) => new UserError(m));
  return { augment: r.augment, rate: r.augmentRate };
}

/** The intermediate losses asked for (defaults and checks from `distillFields`). */
export function resolveIntermediate(o: Pick<DistillOptions, 'hiddenLoss' | 'hiddenWeight' | 'attentionLoss' | 'attentionWeight' | 'layerMap' | 'intermediateCacheMb'>) {
  const r = resolveFields(
    distillFields,
    { hiddenLoss: o.hiddenLoss, hiddenWeight: o.hiddenWeight, attentionLoss: o.attentionLoss, attentionWeight: o.attentionWeight, layerMap: o.layerMap, intermediateCacheMb: o.intermediateCacheMb },
    (m) => new UserError(m),
  );
  return {
    ...(r.hiddenLoss !== 'none' ? { hidden: r.hiddenLoss } : {}),
    hiddenWeight: r.hiddenWeight,
    attention: r.attentionLoss === 'kl',
    attentionWeight: r.attentionWeight,
    ...(r.layerMap ? { layerMap: r.layerMap } : {}),
    cacheBytes: r.intermediateCacheMb * 1024 * 1024,
  };
}
