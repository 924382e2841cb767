/**
 * The training recipe, declared once: each field's flag, help text, default, the parser of its
 * command-line text and the check of its value. The CLI's options (src/cli/training-flags.ts),
 * the library's defaults and checks (resolveRecipe, resolveLossSpec) and the option types
 * (TrainingRecipe, ResolvedRecipe) are all read from these tables, so a field added here is a
 * flag, a default, a check and a typed option at once.
 *
 * Two kinds of check, as before: `parse` turns a flag's text into a value (format errors:
 * "--epochs must be a positive integer"); `check` validates a value however it came, from the
 * CLI or the library API ("--epochs must be an integer >= 1, got 0").
 */
import { deviceHelp, parseDevice, type Device } from '../runtime/device.js';
import type { HiddenMetric } from '../autodiff/intermediate-loss.js';
import type { LossKind } from '../autodiff/loss-graph.js';
import type { OptimizerKind } from '../autodiff/optimizer-graph.js';
import type { DecayKind } from './schedule.js';
import { autoAugmentBelow, autoAugmentCopies } from './augment.js';

export interface RecipeField<V, D extends V | undefined = V | undefined> {
  /** Commander's flag spelling, e.g. `--epochs <n>`, `--resume`, `--no-teacher-cache`. */
  flag: string;
  help: string;
  /** Default of the CLI and of the library (undefined: none). */
  default: D;
  /** Flag text -> value; throws an Error whose message the CLI shows. Absent for switches. */
  parse?: (text: string, previous: V) => V;
  /** What is wrong with a value (undefined: nothing). */
  check?: (value: V) => string | undefined;
}

type ValueOf<F> = F extends RecipeField<infer V, infer _D> ? V : never;
type HasDefault<F> = F extends RecipeField<infer _V, infer D> ? (undefined extends D ? false : true) : false;
/** The options a table declares, all optional (what a caller may pass). */
export type FieldValues<T> = { -readonly [K in keyof T]?: ValueOf<T[K]> };
/** After resolution: fields with a default are always set. */
export type ResolvedFieldValues<T> = { -readonly [K in keyof T as HasDefault<T[K]> extends true ? K : never]: ValueOf<T[K]> } & {
  -readonly [K in keyof T as HasDefault<T[K]> extends true ? never : K]?: ValueOf<T[K]>;
};

// Not toLocaleString: at module load it would set up ICU (~30 ms of every command's start-up).
const thousands = (n: number) => String(n).replace(/\B(?=(\d{3})+$)/g, ',');

const flagName = (flag: string) => flag.split(/[ ,]/).find((w) => w.startsWith('--'))!;

function int<D extends number | undefined>(flag: string, help: string, min: 0 | 1, def: D): RecipeField<number, D> {
  const name = flagName(flag);
  return {
    flag,
    help,
    default: def,
    parse: (text) => {
      const n = Number(text);
      if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be a ${min === 1 ? 'positive' : 'non-negative'} integer`);
      return n;
    },
    check: (v) => (!Number.isInteger(v) || v < min ? `${name} must be an integer >= ${min}, got ${v}` : undefined),
  };
}

function num<D extends number | undefined>(flag: string, help: string, def: D, ok: (x: number) => boolean, what: string): RecipeField<number, D> {
  const name = flagName(flag);
  return {
    flag,
    help,
    default: def,
    parse: (text) => {
      const n = Number(text);
      if (text.trim() === '' || !Number.isFinite(n)) throw new Error(`${name} must be a number`);
      return n;
    },
    check: (v) => (Number.isFinite(v) && ok(v) ? undefined : `${name} must be ${what}, got ${v}`),
  };
}

/** One of `values` (the library also accepts `aliases`, which the help does not show). */
function choice<T extends string, D extends T | undefined>(flag: string, help: string, values: readonly T[], def: D, aliases: readonly T[] = []): RecipeField<T, D> {
  const name = flagName(flag);
  const spelled = values.length > 1 ? `${values.slice(0, -1).join(', ')} or ${values.at(-1)}` : values.join('');
  return {
    flag,
    help,
    default: def,
    parse: (text) => {
      if (!(values as readonly string[]).includes(text)) throw new Error(`${name} must be one of ${values.join(', ')}`);
      return text as T;
    },
    check: (v) => ([...values, ...aliases].includes(v) ? undefined : `${name} must be ${spelled}, got ${String(v)}`),
  };
}

function text(flag: string, help: string): RecipeField<string, undefined> {
  return { flag, help, default: undefined, parse: (t) => t };
}

function list(flag: string, help: string): RecipeField<string[], string[]> {
  return { flag, help, default: [], parse: (t, previous) => [...previous, t] };
}

function switchOn(flag: string, help: string): RecipeField<boolean, boolean> {
  return { flag, help, default: false };
}

/** The recipe shared by `distill` and `train`, in the order the help lists it. */
export const trainingFields = {
  epochs: int('--epochs <n>', 'passes over the training data', 1, 3),
  maxSteps: int('--max-steps <n>', 'stop after n optimizer steps (the schedule spans the shorter of epochs and steps)', 1, undefined),
  batchSize: int('--batch-size <n>', 'examples per optimizer step', 1, 32),
  lr: num('--lr <x>', 'peak learning rate', 5e-4, (x) => x > 0, 'a positive number'),
  seed: int('--seed <n>', 'seeds initialisation, batch order and dropout (same seed + same --threads = identical weights)', 0, 0),
  warmup: num(
    '--warmup <x>',
    'linear warmup: a fraction of the steps (< 1) or a number of steps',
    0.06,
    (x) => x >= 0 && (x < 1 || Number.isInteger(x)),
    'a fraction in [0, 1) or a whole number of steps',
  ),
  schedule: choice<DecayKind, DecayKind>('--schedule <kind>', 'decay after warmup: linear, cosine or constant', ['linear', 'cosine', 'constant'], 'linear'),
  optimizer: choice<OptimizerKind, OptimizerKind>('--optimizer <kind>', 'adamw or sgd (with momentum)', ['adamw', 'sgd'], 'adamw'),
  weightDecay: num('--weight-decay <x>', 'weight decay (not on biases or LayerNorm weights)', 0.01, (x) => x >= 0, 'a number >= 0'),
  momentum: num('--momentum <x>', 'SGD momentum', 0.9, (x) => x >= 0 && x < 1, 'in [0, 1)'),
  maxGradNorm: num('--max-grad-norm <x>', 'clip the global gradient norm to x (0: no clipping)', 1, (x) => x >= 0, 'a number >= 0'),
  freeze: list('--freeze <pattern>', 'freeze weights: embeddings, a name substring, a glob (*.bias) or /regex/ (repeatable)'),
  dropout: num('--dropout <p>', "training-time dropout at BERT's places (0: none; a resumed run then draws fresh masks)", 0, (x) => x >= 0 && x < 1, 'in [0, 1)'),
  evalEvery: int('--eval-every <n>', 'also evaluate on --val every n steps', 1, undefined),
  patience: int('--patience <n>', 'stop after n evaluations without a better validation accuracy', 1, undefined),
  // No default here: it is `best` with validation data and `last` without (resolveRecipe).
  select: choice<'best' | 'last', undefined>(
    '--select <which>',
    'weights to write: best (validation accuracy, ties to the lower validation loss; default with --val) or last',
    ['best', 'last'],
    undefined,
  ),
  saveEvery: int('--save-every <n>', 'also write the resumable checkpoint every n steps', 1, undefined),
  resume: switchOn('--resume', 'continue the run in the checkpoint directory (weights, optimizer state, step, batch order)'),
  checkpointDir: text('--checkpoint-dir <dir>', 'checkpoints (default: <output without .onnx>.checkpoints next to the output)'),
  log: text('--log <path>', 'JSONL log of every step (default: <output>.log.jsonl)'),
  bucket: int('--bucket <n>', 'batches per length-sorted chunk for dynamic padding (0: plain random batches)', 0, 100),
  // 0 as in every command (src/cli/threads.ts): onnxruntime chooses, one per core.
  threads: int('--threads <n>', 'onnxruntime intra-op threads (0 or omitted: onnxruntime chooses, one per core); same seed + same threads = identical weights', 0, undefined),
  device: { flag: '--device <device>', help: deviceHelp, default: 'cpu', parse: parseDevice } as RecipeField<Device, Device>,
  maxLength: int('--max-length <n>', "longest input in tokens (default: the model's position table)", 1, undefined),
  evalBatchSize: int('--eval-batch-size <n>', 'examples per validation batch', 1, 64),
} as const;

/** The recipe `distill` adds: the loss and the teacher's run. */
export const distillFields = {
  loss: choice<LossKind, LossKind>('--loss <kind>', 'kl (KD: alpha T^2 KL + (1 - alpha) CE), mse (on logits) or ce (hard labels only)', ['kl', 'mse', 'ce'], 'kl', ['kd']),
  temperature: num('--temperature <T>', 'softmax temperature of the KL term', 2, (x) => x > 0, '> 0'),
  alpha: num('--alpha <a>', 'weight of the teacher term (the hard-label term gets 1 - alpha)', 0.5, (x) => x >= 0 && x <= 1, 'in [0, 1]'),
  augment: {
    flag: '--augment <copies>',
    help:
      'perturbed copies of each training text (words dropped, swapped, or replaced by other training words) that the teacher labels, soft targets only; ' +
      'for a student much smaller than its teacher on a small training set: ' +
      `a number, or auto (${autoAugmentCopies} when the training set has fewer than ${thousands(autoAugmentBelow)} texts, where a teacher has memorised its answers; else 0)`,
    default: 0,
    parse: (text: string) => {
      if (text === 'auto') return 'auto';
      const n = Number(text);
      if (!Number.isInteger(n) || n < 0) throw new Error('--augment must be auto or a non-negative integer');
      return n;
    },
    check: (v: number | 'auto') => (v === 'auto' || (Number.isInteger(v) && v >= 0) ? undefined : `--augment must be auto or an integer >= 0, got ${String(v)}`),
  } as RecipeField<number | 'auto', number | 'auto'>,
  augmentRate: num('--augment-rate <p>', 'chance that each word of an --augment copy is perturbed', 0.3, (x) => x > 0 && x <= 1, 'in (0, 1]'),
  teacherBatchSize: int('--teacher-batch-size <n>', 'examples per teacher batch when computing its logits', 1, 64),
  teacherCache: { flag: '--no-teacher-cache', help: 'recompute the teacher logits even when cached', default: true } as RecipeField<boolean, boolean>,
  hiddenLoss: choice<'none' | HiddenMetric, 'none' | HiddenMetric>(
    '--hidden-loss <kind>',
    "match the teacher's hidden states (TinyBERT): mse, cosine or none; embeddings to embeddings, student layers to teacher layers by --layer-map, through a learned projection when the widths differ (not written to the model)",
    ['none', 'mse', 'cosine'],
    'none',
  ),
  hiddenWeight: num('--hidden-weight <w>', 'weight of the hidden-state loss', 1, (x) => x >= 0, 'a number >= 0'),
  attentionLoss: choice<'none' | 'kl', 'none' | 'kl'>(
    '--attention-loss <kind>',
    "match the teacher's last-layer attention (MiniLM): kl or none; heads are averaged when the head counts differ",
    ['none', 'kl'],
    'none',
  ),
  attentionWeight: num('--attention-weight <w>', 'weight of the attention loss', 1, (x) => x >= 0, 'a number >= 0'),
  layerMap: {
    flag: '--layer-map <layers>',
    help: 'teacher layer (0-based) each student layer learns from, comma-separated (default: a derived student\'s own blocks, else uniform: student layer i <- teacher layer round((i+1) L_t / L_s) - 1)',
    default: undefined,
    parse: (text: string) => {
      const layers = text.split(',').map((x) => Number(x.trim()));
      if (!text.trim() || layers.some((l) => !Number.isInteger(l) || l < 0)) throw new Error('--layer-map must be comma-separated layer numbers (0-based), e.g. 1,3');
      return layers;
    },
    check: (v: number[]) => (v.every((l) => Number.isInteger(l) && l >= 0) && v.length > 0 ? undefined : `--layer-map must be layer numbers >= 0, got ${v.join(',')}`),
  } as RecipeField<number[], undefined>,
  intermediateCacheMb: int(
    '--intermediate-cache-mb <n>',
    "memory budget for caching the teacher's hidden states / attention across epochs (0: recompute them for every batch)",
    0,
    512,
  ),
} as const;

export type TrainingFields = typeof trainingFields;
export type DistillFields = typeof distillFields;

/**
 * Checks the given values of a table's fields (throws `fail(message)` on the first bad one) and
 * fills the defaults.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function resolveFields<T extends Record<string, RecipeField<any, any>>>(
  table: T,
  values: Record<string, unknown>,
  fail: (message: string) => Error,
): ResolvedFieldValues<T> {
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(table) as Array<[string, RecipeField<unknown, unknown>]>) {
    const given = values[key];
    if (given !== undefined) {
      const problem = field.check?.(given);
      if (problem) throw fail(problem);
    }
    const value = given ?? field.default;
    if (value !== undefined) out[key] = value;
  }
  return out as ResolvedFieldValues<T>;
}

/** The table's values from parsed flags (commander's keys are the field names; switches not given take their default). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function fieldsFromFlags<T extends Record<string, RecipeField<any, any>>>(table: T, flags: Record<string, unknown>): FieldValues<T> {
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(table)) {
    const value = flags[key] ?? field.default;
    if (value !== undefined) out[key] = value;
  }
  return out as FieldValues<T>;
}
