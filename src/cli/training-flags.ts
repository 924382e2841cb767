/**
 * Flags, progress line and summary shared by `distill` and `train` (same engine, same recipe).
 */
import type { Command } from 'commander';
import { InvalidArgumentError } from './commander.js';
import { parseDatasetFormat, type DatasetFormat } from '../data/dataset.js';
import type { DataSelection, TrainingEvent, TrainingRecipe, TrainingResult } from '../distill/options.js';
import { fieldsFromFlags, trainingFields, type RecipeField, type ResolvedFieldValues, type TrainingFields } from '../distill/recipe-fields.js';
import { UserError } from '../errors.js';
import { formatBytes, shownPath, spinner, warn } from './output.js';

/** The parsed flags of the recipe (fields with a default are always set) and of the data and output. */
export type RecipeFlags = ResolvedFieldValues<TrainingFields> & {
  train: string;
  val?: string;
  output: string;
  textCol?: string;
  textPairCol?: string;
  labelCol?: string;
  format?: DatasetFormat;
  header: boolean;
  labels?: string;
  force?: boolean;
  json?: boolean;
  quiet?: boolean;
};

/** Adds a table's fields (recipe-fields.ts) as options, in the table's order. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function addFieldOptions(cmd: Command, table: Record<string, RecipeField<any, any>>): Command {
  for (const field of Object.values(table)) {
    const parse = field.parse;
    if (!parse) {
      cmd.option(field.flag, field.help);
      continue;
    }
    const parser = (text: string, previous: unknown) => {
      try {
        return parse(text, previous);
      } catch (e) {
        // A UserError (e.g. parseDevice's) is shown as it is; format errors are commander's.
        if (e instanceof UserError || !(e instanceof Error)) throw e;
        throw new InvalidArgumentError(e.message);
      }
    };
    if (field.default === undefined) cmd.option(field.flag, field.help, parser);
    else cmd.option(field.flag, field.help, parser, field.default);
  }
  return cmd;
}

/** The data, output, recipe and display flags (the command adds its model flags first). */
export function addRecipeOptions(cmd: Command): Command {
  cmd
    .requiredOption('--train <path>', 'labelled training data: .csv, .tsv or .jsonl')
    .option('--val <path>', 'labelled validation data: accuracy every epoch, best checkpoint, early stopping')
    .requiredOption('-o, --output <path>', 'output model (.onnx); config.json, tokenizer files, log and checkpoints go next to it');
  return addFieldOptions(cmd, trainingFields)
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
    ...fieldsFromFlags(trainingFields, f),
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
  lines.push(`wrote ${shownPath(r.files.model)} (${formatBytes(r.student.bytes)}), ${[r.files.config, ...r.files.tokenizer].map(shownPath).join(', ')}`);
  lines.push(`log ${shownPath(r.files.log)}; checkpoints ${shownPath(r.files.checkpointDir)}`);
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
