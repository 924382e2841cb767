import type { Command } from 'commander';
import { InvalidArgumentError } from './commander.js';
import { parseThreads, threadsHelp } from './threads.js';
import chalk from 'chalk';
import { UserError } from '../errors.js';
import { parseDatasetFormat, type DatasetFormat } from '../data/dataset.js';
import type { EvalReport } from '../eval/evaluator.js';
import { checkGates, gateExitCode, normalizeMinAccuracy, type GateResult } from '../eval/gates.js';
import { worstClasses, type ClassMetrics } from '../eval/metrics.js';
import { deviceHelp, parseDevice, type Device } from '../runtime/device.js';
import type { GraphOptimizationLevel } from '../runtime/session.js';
import { formatTable, printJson, spinner, warn, type Cell } from './output.js';

/** Version of the `--json` document (docs/commands/eval.md); bumped on any incompatible change. */
export const evalJsonSchema = 'onnx-distillery/eval@1';

interface EvalFlags {
  model: string[];
  data: string;
  teacher?: string;
  textCol?: string;
  textPairCol?: string;
  labelCol?: string;
  format?: DatasetFormat;
  header: boolean;
  labels?: string;
  tokenizer?: string;
  maxLength?: number;
  batchSize: number;
  sort: boolean;
  device: Device;
  threads?: number;
  graphOpt: GraphOptimizationLevel;
  minAccuracy?: number;
  maxDrop?: number;
  showDisagreements: number;
  topClasses: number;
  json?: boolean;
  quiet?: boolean;
}

export function register(program: Command): void {
  program
    .command('eval')
    .description('Accuracy, macro-F1 and per-class metrics of classifiers on labelled text; student vs teacher; CI gates.')
    .requiredOption('-m, --model <paths...>', 'ONNX classifier(s) to evaluate, side by side')
    .requiredOption('-d, --data <path>', 'labelled data: .csv, .tsv or .jsonl')
    .option('-t, --teacher <path>', 'teacher model: adds drop, retention, agreement and KL(teacher || model)')
    .option('--text-col <name>', 'text column (default: text, sentence, sentence1/sentence2, ...; an index without header)')
    .option('--text-pair-col <name>', 'second text column of a pair task')
    .option('--label-col <name>', 'label column (default: label, category, intent, ...)')
    .option('--format <format>', 'csv, tsv or jsonl (default: from the extension)', parseDatasetFormat)
    .option('--no-header', 'the csv/tsv file has no header row (default: detected)')
    .option('--labels <names|file>', 'label names in id order, comma-separated or a file (default: config.json id2label next to the model)')
    .option('--tokenizer <path>', 'tokenizer.json, vocab.txt or their folder (default: next to each model)')
    .option('--max-length <n>', "longest input in tokens (default: the model's position table, else 128)", positiveInt('--max-length'))
    .option('--batch-size <n>', 'examples per session.run', positiveInt('--batch-size'), 32)
    .option('--no-sort', 'keep file order in batches (default: group by length, less padding)')
    .option('--device <device>', deviceHelp, parseDevice, 'cpu' as Device)
    .option('--threads <n>', threadsHelp, parseThreads)
    .option('--graph-opt <level>', 'onnxruntime graph optimization: disabled, basic, extended, all', graphOptLevel, 'all' as GraphOptimizationLevel)
    .option('--min-accuracy <x>', 'fail (exit 3) if a --model scores below x (0.8 or 80 = 80 %)', number('--min-accuracy'))
    .option('--max-drop <points>', 'fail (exit 4) if a --model is more than this many points below --teacher', number('--max-drop'))
    .option('--show-disagreements <n>', 'print n examples where model and teacher disagree', nonNegativeInt('--show-disagreements'), 0)
    .option('--top-classes <k>', 'per-class rows printed (the k worst by F1 when there are more)', positiveInt('--top-classes'), 10)
    .option('--json', 'print the report as JSON (schema onnx-distillery/eval@1, see docs/commands/eval.md)')
    .option('-q, --quiet', 'no progress output')
    .addHelpText('after', '\nExamples:\n  $ distillery eval --model student.onnx --data validation.tsv\n  $ distillery eval --teacher teacher.onnx --model student.onnx student-int8.onnx --data validation.tsv --max-drop 1 --show-disagreements 5\n')
    .action(async (flags: EvalFlags) => {
      await runEval(flags);
    });
}

async function runEval(flags: EvalFlags): Promise<void> {
  // Check the gate flags before spending minutes evaluating.
  if (flags.minAccuracy !== undefined) normalizeMinAccuracy(flags.minAccuracy);
  if (flags.maxDrop !== undefined && !flags.teacher) throw new UserError('--max-drop needs --teacher (the drop is measured against it)');
  if (flags.showDisagreements > 0 && !flags.teacher) warn('--show-disagreements needs --teacher; ignored');

  const progress = spinner('loading models', { quiet: flags.quiet || flags.json });
  progress.start();
  let report: EvalReport;
  try {
    report = await (await import('../eval/evaluator.js')).evaluate({
      models: flags.model,
      teacher: flags.teacher,
      data: flags.data,
      dataset: {
        textCol: flags.textCol,
        textPairCol: flags.textPairCol,
        labelCol: flags.labelCol,
        format: flags.format,
        header: flags.header ? 'auto' : false,
      },
      labels: flags.labels,
      tokenizer: flags.tokenizer,
      maxLength: flags.maxLength,
      batchSize: flags.batchSize,
      sortByLength: flags.sort,
      session: { device: flags.device, threads: flags.threads, graphOptimizationLevel: flags.graphOpt },
      showDisagreements: flags.showDisagreements,
      onProgress: ({ examples, bytesRead, totalBytes }) => {
        const pct = totalBytes > 0 ? ` (${Math.round((100 * bytesRead) / totalBytes)} % of the file)` : '';
        progress.text = `evaluating: ${examples} examples${pct}`;
      },
    });
  } finally {
    progress.stop();
  }
  for (const w of report.warnings) warn(w);
  const gates = checkGates(report, { minAccuracy: flags.minAccuracy, maxDrop: flags.maxDrop });
  const exitCode = gateExitCode(gates);
  if (flags.json) {
    printJson({ schema: evalJsonSchema, ...report, gates, passed: exitCode === 0 });
  } else {
    process.stdout.write(formatReport(report, gates, flags) + '\n');
  }
  for (const g of gates.filter((r) => !r.passed)) {
    process.stderr.write(chalk.red(g.bound === 'non-finite' ? 'error: ' : 'gate failed: ') + describeGate(g) + '\n');
  }
  if (exitCode !== 0) process.exitCode = exitCode;
}

export function formatReport(report: EvalReport, gates: readonly GateResult[], flags: Pick<EvalFlags, 'topClasses' | 'showDisagreements'>): string {
  const d = report.data;
  const out: string[] = [];
  const cols = `text "${d.columns.text}"${d.columns.textPair ? ` + "${d.columns.textPair}"` : ''}, label "${d.columns.label}"`;
  const labels = d.labels.length <= 6 ? d.labels.join(', ') : `${d.labels.length} labels`;
  out.push(`data: ${d.path} (${d.format}, ${d.examples} examples; ${cols}; labels: ${labels})`);
  out.push('');

  const hasTeacher = report.comparisons.length > 0;
  const byModel = new Map(report.comparisons.map((c) => [c.model, c]));
  const headers = ['model', 'accuracy', 'macro-F1', ...(hasTeacher ? ['drop (pts)', 'retention', 'agreement', 'KL(t||m)'] : []), 'examples/s'];
  const rows: Cell[][] = report.models.map((m) => {
    const c = byModel.get(m.name);
    const vs = hasTeacher
      ? c
        ? [points(c.dropPoints), percent(c.retention), percent(c.agreement), c.meanKl.toFixed(4)]
        : ['-', '-', '-', '-']
      : [];
    return [m.role === 'teacher' ? `${m.name} (teacher)` : m.name, percent(m.accuracy), percent(m.macroF1), ...vs, Math.round(m.examplesPerSecond)];
  });
  out.push(formatTable(headers, alignRight(headers, rows)));

  const classHeaders = ['label', 'support', 'precision', 'recall', 'F1'];
  const pairHeaders = ['true', 'predicted', 'count', '% of true'];
  for (const m of report.models.filter((x) => x.role === 'model')) {
    const metrics: ClassMetrics[] = m.perClass.map((c, index) => ({ ...c, index, truePositives: 0 }));
    const shown = metrics.length <= flags.topClasses ? metrics : worstClasses(metrics, flags.topClasses);
    const title =
      metrics.length <= flags.topClasses
        ? `per class: ${m.name}`
        : `per class: ${m.name} (the ${shown.length} worst of ${metrics.length} by F1)`;
    out.push('');
    out.push(
      formatTable(
        classHeaders,
        alignRight(
          classHeaders,
          shown.map((c) => [d.labels[c.index]!, c.support, percent(c.precision), percent(c.recall), percent(c.f1)]),
        ),
        { title },
      ),
    );
    const pairs = m.confusionPairs.slice(0, 5);
    if (pairs.length > 0) {
      out.push('');
      out.push(
        formatTable(
          pairHeaders,
          alignRight(
            pairHeaders,
            pairs.map((p) => [p.true, p.predicted, p.count, percent(p.rate)]),
          ),
          { title: `most frequent confusions: ${m.name}` },
        ),
      );
    }
  }

  for (const c of report.comparisons) {
    if (flags.showDisagreements <= 0) continue;
    out.push('');
    out.push(chalk.bold(`${c.model} vs ${c.teacher}: ${c.disagreementCount} disagreements of ${d.examples}` + (c.disagreementCount > c.disagreements.length ? ` (first ${c.disagreements.length})` : '')));
    for (const x of c.disagreements) {
      const text = x.textPair !== undefined ? `${x.text} ||| ${x.textPair}` : x.text;
      out.push(
        `  line ${x.line}: label ${x.label}, teacher ${x.teacher} (${x.teacherConfidence.toFixed(2)}), ${c.model} ${x.model} (${x.modelConfidence.toFixed(2)})  ${clip(text.trim(), 100)}`,
      );
    }
  }

  out.push('');
  const t = report.timing;
  out.push(
    `${d.examples} examples in ${t.seconds.toFixed(2)} s, ${Math.round(t.examplesPerSecond)} examples/s for all models together ` +
      `(tokenization ${t.tokenizeSeconds.toFixed(2)} s; loading models ${t.loadSeconds.toFixed(2)} s)`,
  );
  for (const g of gates) out.push(`${g.passed ? chalk.green('pass') : chalk.red('FAIL')} ${describeGate(g)}`);
  return out.join('\n');
}

function describeGate(g: GateResult): string {
  if (g.bound === 'non-finite') return `${g.model}: ${g.value} examples gave NaN or infinite logits`;
  if (g.bound === 'min-accuracy') {
    return `--min-accuracy ${percent(g.threshold)}: ${g.model} scored ${percent(g.value)}`;
  }
  return `--max-drop ${g.threshold} points: ${g.model} is ${points(g.value)} points below the teacher`;
}

function percent(x: number): string {
  return `${(x * 100).toFixed(2)} %`;
}

function points(x: number): string {
  return `${x >= 0 ? '' : '-'}${Math.abs(x).toFixed(2)}`;
}

function clip(s: string, n: number): string {
  return s.length <= n ? s : s.slice(0, n - 1) + '…';
}

/** Pads string cells of every column but the first to one width, so formatTable shows them right-aligned. */
function alignRight(headers: readonly string[], rows: Cell[][]): Cell[][] {
  const widths = headers.map((h, j) => Math.max(h.length, ...rows.map((r) => String(r[j] ?? '-').length)));
  return rows.map((r) => r.map((c, j) => (j > 0 && typeof c === 'string' ? c.padStart(widths[j]!) : c)));
}

function positiveInt(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${flag} must be a positive integer`);
    return n;
  };
}

function nonNegativeInt(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${flag} must be a non-negative integer`);
    return n;
  };
}

function number(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`${flag} must be a number`);
    return n;
  };
}

function graphOptLevel(value: string): GraphOptimizationLevel {
  if (value === 'disabled' || value === 'basic' || value === 'extended' || value === 'all') return value;
  throw new InvalidArgumentError('expected disabled, basic, extended or all');
}
