/**
 * Flags, progress line and summary shared by `distill` and `train` (same engine, same recipe).
 */
import { InvalidArgumentError, type Command } from 'commander';
import { parseThreads, threadsHelp } from './threads.js';
import { parseDatasetFormat, type DatasetFormat } from '../data/dataset.js';
import type { DataSelection, TrainingEvent, TrainingRecipe, TrainingResult } from '../distill/options.js';
import { parseDevice, type Device } from '../runtime/device.js';
import { formatBytes, spinner, warn } from './output.js';

export interface RecipeFlags {
  train: string;
  val?: string;
  output: string;
  epochs: number;
  maxSteps?: number;
  batchSize: number;
  lr: number;
  seed: number;
  warmup: number;
  schedule: 'linear' | 'cosine' | 'constant';
  optimizer: 'adamw' | 'sgd';
  weightDecay: number;
  momentum: number;
  maxGradNorm: number;
  freeze: string[];
  dropout: number;
  evalEvery?: number;
  patience?: number;
  select?: 'best' | 'last';
  saveEvery?: number;
  resume?: boolean;
  checkpointDir?: string;
  log?: string;
  bucket: number;
  threads?: number;
  device: Device;
  maxLength?: number;
  evalBatchSize: number;
  textCol?: string;
  textPairCol?: string;
  labelCol?: string;
  format?: DatasetFormat;
  header: boolean;
  labels?: string;
  force?: boolean;
  json?: boolean;
  quiet?: boolean;
}

/** The data, output, recipe and display flags (the command adds its model flags first). */
export function addRecipeOptions(cmd: Command): Command {
  return cmd
    .requiredOption('--train <path>', 'labelled training data: .csv, .tsv or .jsonl')
    .option('--val <path>', 'labelled validation data: accuracy every epoch, best checkpoint, early stopping')
    .requiredOption('-o, --output <path>', 'output model (.onnx); config.json, tokenizer files, log and checkpoints go next to it')
    .option('--epochs <n>', 'passes over the training data', positiveInt('--epochs'), 3)
    .option('--max-steps <n>', 'stop after n optimizer steps (the schedule spans the shorter of epochs and steps)', positiveInt('--max-steps'))
    .option('--batch-size <n>', 'examples per optimizer step', positiveInt('--batch-size'), 32)
    .option('--lr <x>', 'peak learning rate', number('--lr'), 5e-4)
    .option('--seed <n>', 'seeds initialisation, batch order and dropout (same seed + same --threads = identical weights)', nonNegativeInt('--seed'), 0)
    .option('--warmup <x>', 'linear warmup: a fraction of the steps (< 1) or a number of steps', number('--warmup'), 0.06)
    .option('--schedule <kind>', 'decay after warmup: linear, cosine or constant', choice('--schedule', ['linear', 'cosine', 'constant']), 'linear')
    .option('--optimizer <kind>', 'adamw or sgd (with momentum)', choice('--optimizer', ['adamw', 'sgd']), 'adamw')
    .option('--weight-decay <x>', 'weight decay (not on biases or LayerNorm weights)', number('--weight-decay'), 0.01)
    .option('--momentum <x>', 'SGD momentum', number('--momentum'), 0.9)
    .option('--max-grad-norm <x>', 'clip the global gradient norm to x (0: no clipping)', number('--max-grad-norm'), 1)
    .option('--freeze <pattern>', 'freeze weights: embeddings, a name substring, a glob (*.bias) or /regex/ (repeatable)', collect, [])
    .option('--dropout <p>', "training-time dropout at BERT's places (0: none; a resumed run then draws fresh masks)", number('--dropout'), 0)
    .option('--eval-every <n>', 'also evaluate on --val every n steps', positiveInt('--eval-every'))
    .option('--patience <n>', 'stop after n evaluations without a better validation accuracy', positiveInt('--patience'))
    .option('--select <which>', 'weights to write: best (validation accuracy, ties to the lower validation loss; default with --val) or last', choice('--select', ['best', 'last']))
    .option('--save-every <n>', 'also write the resumable checkpoint every n steps', positiveInt('--save-every'))
    .option('--resume', 'continue the run in the checkpoint directory (weights, optimizer state, step, batch order)')
    .option('--checkpoint-dir <dir>', 'checkpoints (default: <output without .onnx>.checkpoints next to the output)')
    .option('--log <path>', 'JSONL log of every step (default: <output>.log.jsonl)')
    .option('--bucket <n>', 'batches per length-sorted chunk for dynamic padding (0: plain random batches)', nonNegativeInt('--bucket'), 100)
    .option('--threads <n>', `${threadsHelp}; same seed + same threads = identical weights`, parseThreads)
    .option('--device <device>', 'cpu, cuda or auto', parseDevice, 'cpu' as Device)
    .option('--max-length <n>', "longest input in tokens (default: the model's position table)", positiveInt('--max-length'))
    .option('--eval-batch-size <n>', 'examples per validation batch', positiveInt('--eval-batch-size'), 64)
    .option('--text-col <name>', 'text column (default: text, sentence, ...)')
    .option('--text-pair-col <name>', 'second text column of a pair task')
    .option('--label-col <name>', 'label column (default: label, category, intent, ...)')
    .option('--format <format>', 'csv, tsv or jsonl (default: from the extension)', parseDatasetFormat)
    .option('--no-header', 'the csv/tsv files have no header row (default: detected)')
    .option('--labels <names|file>', 'label names in id order, comma-separated or a file')
    .option('--force', 'overwrite existing outputs; without --resume, also start over an existing checkpoint')
    .option('--json', 'print the result as JSON')
    .option('-q, --quiet', 'no progress output');
}

export function recipeFromFlags(f: RecipeFlags): TrainingRecipe & DataSelection & { output: string } {
  return {
    train: f.train,
    ...(f.val !== undefined ? { val: f.val } : {}),
    output: f.output,
    dataset: { textCol: f.textCol, textPairCol: f.textPairCol, labelCol: f.labelCol, format: f.format, header: f.header ? 'auto' : false },
    ...(f.labels !== undefined ? { labels: f.labels } : {}),
    epochs: f.epochs,
    maxSteps: f.maxSteps,
    batchSize: f.batchSize,
    lr: f.lr,
    seed: f.seed,
    warmup: f.warmup,
    schedule: f.schedule,
    optimizer: f.optimizer,
    weightDecay: f.weightDecay,
    momentum: f.momentum,
    maxGradNorm: f.maxGradNorm,
    freeze: f.freeze,
    dropout: f.dropout,
    evalEvery: f.evalEvery,
    patience: f.patience,
    select: f.select,
    saveEvery: f.saveEvery,
    resume: f.resume ?? false,
    checkpointDir: f.checkpointDir,
    log: f.log,
    bucket: f.bucket,
    threads: f.threads,
    device: f.device,
    maxLength: f.maxLength,
    evalBatchSize: f.evalBatchSize,
    force: f.force ?? false,
  };
}

/**
 * Runs `fn` with a progress line on stderr (silent when not a TTY) and Ctrl-C (or SIGTERM)
 * wired to a clean stop (checkpoint, then exit 130); a second Ctrl-C kills the process.
 */
export async function withProgress<T>(quiet: boolean, fn: (events: (e: TrainingEvent) => void, signal: AbortSignal) => Promise<T>): Promise<T> {
  const progress = spinner('starting', { quiet });
  const controller = new AbortController();
  const onSigint = () => {
    progress.text = 'stopping after this step (Ctrl-C again to kill)';
    controller.abort();
  };
  process.once('SIGINT', onSigint);
  process.once('SIGTERM', onSigint);
  let lastDraw = 0;
  let lastEval = '';
  const events = (e: TrainingEvent) => {
    if (e.type === 'warning') {
      if (progress.isSpinning) progress.clear();
      warn(e.message);
      return;
    }
    if (e.type === 'phase') {
      if (e.phase !== 'training') progress.text = e.message;
      return;
    }
    if (e.type === 'teacher-progress') {
      const now = performance.now();
      if (now - lastDraw < 100 && e.done < e.total) return;
      lastDraw = now;
      progress.text = `teacher logits ${bar(e.done / e.total)} ${e.done}/${e.total}`;
      return;
    }
    if (e.type === 'eval') {
      lastEval = ` · val ${(e.accuracy * 100).toFixed(2)} %${e.best ? ' (best)' : ''}`;
      return;
    }
    const now = performance.now();
    if (now - lastDraw < 100 && e.step < e.totalSteps) return;
    lastDraw = now;
    progress.text =
      `epoch ${Math.min(e.epochs, Math.floor(e.epoch) + 1)}/${e.epochs} ${bar(e.step / e.totalSteps)} step ${e.step}/${e.totalSteps}` +
      ` · loss ${e.loss.toFixed(4)} · lr ${e.lr.toExponential(2)} · ${Math.round(e.examplesPerSecond)} ex/s · ETA ${duration(e.etaSeconds)}${lastEval}`;
  };
  progress.start();
  try {
    return await fn(events, controller.signal);
  } finally {
    progress.stop();
    process.removeListener('SIGINT', onSigint);
    process.removeListener('SIGTERM', onSigint);
  }
}

/** Lines after the table: what ran and what was written. */
export function runSummary(r: TrainingResult): string {
  const lines = [
    `steps ${r.steps}/${r.totalSteps} (${r.stopReason}), ${r.examplesSeen} examples, ${Math.round(r.examplesPerSecond)} examples/s, ` +
      `training ${duration(r.trainSeconds)}, total ${duration(r.seconds)}`,
  ];
  if (r.best) lines.push(`best validation accuracy ${(r.best.accuracy * 100).toFixed(2)} % at step ${r.best.step}; wrote the ${r.selected} weights`);
  lines.push(`wrote ${r.files.model} (${formatBytes(r.student.bytes)}), ${[r.files.config, ...r.files.tokenizer].join(', ')}`);
  lines.push(`log ${r.files.log}; checkpoints ${r.files.checkpointDir}`);
  return lines.join('\n');
}

export function percent(x: number | undefined): string | undefined {
  return x === undefined ? undefined : `${(x * 100).toFixed(2)} %`;
}

export function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

function bar(fraction: number, width = 20): string {
  const full = Math.max(0, Math.min(width, Math.round(fraction * width)));
  return '[' + '#'.repeat(full) + '-'.repeat(width - full) + ']';
}

export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function positiveInt(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${flag} must be a positive integer`);
    return n;
  };
}

export function nonNegativeInt(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${flag} must be a non-negative integer`);
    return n;
  };
}

export function number(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`${flag} must be a number`);
    return n;
  };
}

export function choice<T extends string>(flag: string, values: readonly T[]) {
  return (value: string): T => {
    if (!(values as readonly string[]).includes(value)) throw new InvalidArgumentError(`${flag} must be one of ${values.join(', ')}`);
    return value as T;
  };
}
