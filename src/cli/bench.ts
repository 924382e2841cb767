import { writeFile } from 'node:fs/promises';
import { threadsHelp } from './threads.js';
import type { Command } from 'commander';
import chalk from 'chalk';
// The harness (and onnxruntime under it) loads when the command runs, not at CLI start-up.
import type { BenchOptions, BenchProgress, BenchResult } from '../bench/index.js';
import { describeMachine } from '../bench/machine.js';
import { parseDimAssignments, parsePositiveIntList } from '../bench/options.js';
import { describePlacement, shortProvider } from '../bench/placement.js';
import { parseDatasetFormat, type DatasetFormat } from '../data/dataset.js';
import { ExitCode, UserError } from '../errors.js';
import { deviceHelp, parseDevice } from '../runtime/device.js';
import type { GraphOptimizationLevel } from '../runtime/session.js';
import { formatBytes, formatTable, printJson, spinner, warn, type Cell } from './output.js';

interface BenchFlags {
  batchSize?: string;
  seqLen?: string;
  warmup: string;
  iterations: string;
  device: string;
  threads: string;
  graphOpt: string;
  baseline?: string;
  data?: string;
  textCol?: string;
  textPairCol?: string;
  format?: DatasetFormat;
  dim: string[];
  isolate: boolean;
  placement: boolean;
  blockSize?: string;
  seed: string;
  json?: boolean;
  csv?: boolean;
  out?: string;
  quiet?: boolean;
}

export function register(program: Command): void {
  program
    .command('bench')
    .description('Latency percentiles, throughput, size, memory and node placement of ONNX models, side by side.')
    .argument('<models...>', 'ONNX models; the first is the baseline unless --baseline says otherwise')
    .option('-b, --batch-size <list>', 'batch sizes, comma-separated: every one is run with every --seq-len (default: 1, or the model\'s fixed batch dim)')
    .option('-s, --seq-len <list>', 'sequence lengths, comma-separated (needed when the model has a dynamic sequence dim)')
    .option('--warmup <n>', 'untimed runs per model before timing each batch/seq point', '10')
    .option('-n, --iterations <n>', 'timed runs per model and point', '100')
    .option('--device <device>', deviceHelp, 'cpu')
    .option('--threads <n>', threadsHelp, '0')
    .option('--graph-opt <level>', 'onnxruntime graph optimization: disabled, basic, extended, all', 'all')
    .option('--baseline <model>', 'model the others are compared with: one of the paths, or its position 1..n (default: the first)')
    .option('--data <file>', 'real sentences (.csv, .tsv, .jsonl) through the tokenizer next to each model, instead of synthetic ids')
    .option('--text-col <name>', 'with --data: the text column (default: text, sentence, ...)')
    .option('--text-pair-col <name>', 'with --data: second text column of a pair task')
    .option('--format <format>', 'with --data: csv, tsv or jsonl (default: from the extension)', parseDatasetFormat)
    .option('--dim <name=N>', 'value of another named dynamic dim (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--no-isolate', 'run every model in this process (default: one worker process per model, so peak RSS is per model)')
    .option('--no-placement', 'skip the profiled run that reports which execution provider runs each op')
    .option('--block-size <n>', 'timed runs per model before the next model takes its turn (default: iterations / 10)')
    .option('--seed <n>', 'seed of the synthetic token ids', '0')
    .option('--json', 'print the result as JSON (schema onnx-distillery/bench@1, see docs/commands/bench.md)')
    .option('--csv', 'print one CSV row per model and point')
    .option('-o, --out <file>', 'also save the result: CSV when the name ends in .csv, else JSON')
    .option('-q, --quiet', 'no progress output')
    .addHelpText('after', '\nExamples:\n  $ distillery bench model.onnx --seq-len 64\n  $ distillery bench teacher.onnx student.onnx student-int8.onnx --batch-size 1,8 --seq-len 32,128 --json --out results.json\n')
    .action(async (models: string[], flags: BenchFlags) => {
      await runBench(models, flags);
    });
}

function intFlag(value: string, flag: string, min: number): number {
  const n = Number(value);
  if (!/^\s*[+-]?\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < min) throw new UserError(`${flag} ${value}: must be an integer >= ${min}`);
  return n;
}

function graphOptLevel(value: string): GraphOptimizationLevel {
  if (value === 'disabled' || value === 'basic' || value === 'extended' || value === 'all') return value;
  throw new UserError(`--graph-opt ${value}: expected disabled, basic, extended or all`);
}

/** --baseline as a path from the list, or a 1-based position. */
function baselineIndex(value: string | undefined, models: string[]): number | undefined {
  if (value === undefined) return undefined;
  const at = models.indexOf(value);
  if (at >= 0) return at;
  if (/^\d+$/.test(value) && Number(value) >= 1 && Number(value) <= models.length) return Number(value) - 1;
  throw new UserError(`--baseline ${value}: not one of the models given (a path from the list, or 1..${models.length})`);
}

export function benchOptionsFromFlags(models: string[], flags: BenchFlags): BenchOptions {
  const options: BenchOptions = {
    warmup: intFlag(flags.warmup, '--warmup', 0),
    iterations: intFlag(flags.iterations, '--iterations', 1),
    device: parseDevice(flags.device),
    threads: intFlag(flags.threads, '--threads', 0),
    graphOptimizationLevel: graphOptLevel(flags.graphOpt),
    dims: parseDimAssignments(flags.dim),
    // --no-isolate forces one process; otherwise the library isolates whenever it can.
    ...(flags.isolate ? {} : { isolate: false }),
    placement: flags.placement,
    seed: intFlag(flags.seed, '--seed', 0),
  };
  // Without --batch-size a model's fixed batch dim is used as it is.
  if (flags.batchSize !== undefined) options.batchSizes = parsePositiveIntList(flags.batchSize, '--batch-size');
  if (flags.seqLen !== undefined) options.seqLens = parsePositiveIntList(flags.seqLen, '--seq-len');
  const baseline = baselineIndex(flags.baseline, models);
  if (baseline !== undefined) options.baseline = baseline;
  if (flags.blockSize !== undefined) options.blockSize = intFlag(flags.blockSize, '--block-size', 1);
  if (flags.data) {
    options.data = flags.data;
    options.dataOptions = { textCol: flags.textCol, textPairCol: flags.textPairCol, format: flags.format };
  } else if (flags.textCol || flags.textPairCol || flags.format) {
    throw new UserError('--text-col, --text-pair-col and --format only apply with --data');
  }
  return options;
}

async function runBench(models: string[], flags: BenchFlags): Promise<void> {
  if (flags.json && flags.csv) throw new UserError('--json and --csv: choose one');
  const options = benchOptionsFromFlags(models, flags);
  const controller = new AbortController();
  options.signal = controller.signal;
  const progress = spinner('loading models', { quiet: flags.quiet });
  const said = new Set<string>();
  const say = (w: string) => {
    if (said.has(w)) return;
    said.add(w);
    progress.clear();
    warn(w);
    progress.render();
  };
  let interrupts = 0;
  const onSigint = () => {
    interrupts++;
    if (interrupts > 1) process.exit(ExitCode.interrupted);
    progress.text = 'interrupted: finishing the current iteration (Ctrl-C again to quit now)';
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  progress.start();
  let result: BenchResult;
  try {
    result = await (await import('../bench/harness.js')).benchModels(models, options, (p) => onProgress(p, progress, flags, say));
  } finally {
    process.off('SIGINT', onSigint);
    progress.stop();
  }
  for (const w of result.warnings) say(w);
  if (flags.json) printJson(result);
  else process.stdout.write(flags.csv ? formatCsv(result) : formatBench(result) + '\n');
  if (flags.out) {
    const body = flags.out.toLowerCase().endsWith('.csv') ? formatCsv(result) : JSON.stringify(result, null, 2) + '\n';
    try {
      await writeFile(flags.out, body);
    } catch (e) {
      throw new UserError(`${flags.out}: cannot write results (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  }
  if (!result.complete) {
    process.stderr.write(chalk.yellow('interrupted: ') + 'the table holds what was measured before Ctrl-C\n');
    process.exitCode = ExitCode.interrupted;
  }
}

function onProgress(p: BenchProgress, progress: ReturnType<typeof spinner>, flags: BenchFlags, say: (w: string) => void): void {
  const where = p.batchSize !== undefined ? ` batch ${p.batchSize}${p.seqLen !== undefined ? ` seq ${p.seqLen}` : ''}` : '';
  const of = p.points && p.points > 1 ? ` [${(p.point ?? 0) + 1}/${p.points}]` : '';
  switch (p.phase) {
    case 'load':
      progress.text = `reading ${p.label}`;
      break;
    case 'placement':
      if (!p.placement) {
        progress.text = `${p.label}: profiling one run for node placement`;
        break;
      }
      // Placement is reported before any timing, on stderr (stdout carries the results).
      if (!flags.quiet && !flags.json && !flags.csv) {
        progress.clear();
        process.stderr.write(`placement ${p.label}: ${describePlacement(p.placement)} nodes (${placementDetail(p.placement)})\n`);
        progress.render();
      }
      for (const w of p.warnings ?? []) say(w);
      break;
    case 'open':
      progress.text = `${p.label}: creating session`;
      break;
    case 'warmup':
      progress.text = `${p.label}${where}${of}: warming up`;
      break;
    case 'timing':
      progress.text = `${p.label}${where}${of}: ${p.done}/${p.total} timed runs`;
      break;
  }
}

function placementDetail(placement: NonNullable<BenchProgress['placement']>): string {
  const providers = Object.keys(placement.byProvider);
  const top = placement.ops.slice(0, 6).map((o) => `${o.opType}${providers.length > 1 ? `@${shortProvider(o.provider)}` : ''} x${o.nodes}`);
  return `by kernel time: ${top.join(', ')}${placement.ops.length > 6 ? ', ...' : ''}`;
}

function ms(v: number): string {
  if (!Number.isFinite(v)) return '-';
  return v < 1 ? v.toFixed(3) : v < 100 ? v.toFixed(2) : v.toFixed(1);
}

function rate(v: number): string {
  if (!Number.isFinite(v)) return '-';
  return v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(1);
}

function weights(byDtype: Record<string, number>): string {
  const parts = Object.entries(byDtype)
    .filter(([, b]) => b > 0)
    .sort((a, b) => b[1] - a[1]);
  if (parts.length === 0) return '-';
  return parts
    .slice(0, 2)
    .map(([dtype, b]) => `${formatBytes(b)} ${dtype.replace('float', 'fp')}`)
    .join(' + ') + (parts.length > 2 ? ' + ...' : '');
}

/** Right-aligns a column of strings (formatTable right-aligns only numbers). */
function alignColumns(headers: string[], rows: Cell[][], right: ReadonlySet<number>): Cell[][] {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i] ?? '-').length)));
  return rows.map((r) => r.map((c, i) => (right.has(i) ? String(c ?? '-').padStart(widths[i]!) : c)));
}

/** The human report: machine, models (size, memory, placement), then one latency row per model and point. */
export function formatBench(r: BenchResult): string {
  const s = r.settings;
  const lines: string[] = [];
  lines.push(`machine: ${describeMachine(r.machine)}`);
  const threads = s.threads > 0 ? `${s.threads} threads` : 'threads: onnxruntime default';
  const inputs = s.inputs === 'data' ? `sentences from ${s.data}` : 'synthetic token ids';
  lines.push(
    `settings: ${s.device}, ${threads}, warmup ${s.warmup}, ${s.iterations} timed runs per point in blocks of ${s.blockSize}, ` +
      `${inputs}, ${s.isolation === 'process' ? 'one worker process per model' : 'all models in one process'}`,
  );
  lines.push('');
  const modelHeaders = ['model', 'file', 'weights', 'create ms', 'peak RSS', 'session RSS', 'placement'];
  const modelRows: Cell[][] = r.models.map((m, i) => [
    m.label + (i === r.baseline && r.models.length > 1 ? ' (baseline)' : ''),
    formatBytes(m.fileBytes),
    weights(m.weightBytesByDtype),
    m.createMs !== undefined ? ms(m.createMs) : '-',
    m.memory ? formatBytes(m.memory.peakRssBytes) + (m.memory.method === 'in-process' ? '*' : '') : '-',
    m.memory ? formatBytes(m.memory.sessionRssBytes) : '-',
    m.placement ? describePlacement(m.placement) : '-',
  ]);
  lines.push(formatTable(modelHeaders, alignColumns(modelHeaders, modelRows, new Set([1, 3, 4, 5]))));
  lines.push('');
  const multi = r.models.length > 1;
  const headers = ['model', 'batch', 'seq', 'p50 ms', 'p90 ms', 'p99 ms', 'min ms', 'max ms', 'IQR', 'ex/s', 'tok/s', ...(multi ? ['vs baseline'] : [])];
  const rows: Cell[][] = r.runs.map((run) => {
    const l = run.latencyMs;
    const partial = l.count < run.iterations ? ` (${l.count}/${run.iterations})` : '';
    const cells: Cell[] = [
      run.label + partial,
      run.batchSize,
      run.seqLen ?? '-',
      ms(l.p50),
      ms(l.p90),
      ms(l.p99),
      ms(l.min),
      ms(l.max),
      `${(l.relativeIqr * 100).toFixed(0)}%${run.noisy ? ' !' : ''}`,
      rate(run.throughput.examplesPerSec),
      rate(run.throughput.tokensPerSec),
    ];
    if (multi) cells.push(run.vsBaseline ? `${run.vsBaseline.p50Ratio.toFixed(2)}x${run.vsBaseline.withinNoise ? ' ~' : ''}` : run.model === r.baseline ? '1.00x' : '-');
    return cells;
  });
  lines.push(formatTable(headers, alignColumns(headers, rows, new Set([3, 4, 5, 6, 7, 8, 9, 10, 11]))));
  const notes: string[] = [];
  if (r.runs.some((x) => x.noisy)) notes.push('! noisy: the middle half of the runs spreads over more than 10% of the median');
  if (multi) notes.push('vs baseline: p50 / baseline p50 at the same batch and seq (below 1 is faster); ~ = within the IQR, not a real difference');
  if (r.models.some((m) => m.memory?.method === 'in-process')) notes.push('* in-process: peak RSS of the whole process, shared by all models');
  if (notes.length) lines.push('', ...notes);
  return lines.join('\n');
}

const csvColumns = [
  'model', 'path', 'batch_size', 'seq_len', 'tokens_per_batch', 'iterations', 'timed', 'p50_ms', 'p90_ms', 'p99_ms', 'min_ms', 'max_ms',
  'mean_ms', 'iqr_ms', 'examples_per_sec', 'tokens_per_sec', 'p50_ratio_vs_baseline', 'noisy', 'file_bytes', 'weight_bytes', 'weight_kind',
  'create_ms', 'peak_rss_bytes', 'session_rss_bytes', 'memory_method', 'device', 'threads', 'cpu', 'onnxruntime',
];

function csvCell(v: unknown): string {
  if (v === undefined || v === null) return '';
  const s = typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(4)) : String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function formatCsv(r: BenchResult): string {
  const rows = r.runs.map((run) => {
    const m = r.models[run.model]!;
    const l = run.latencyMs;
    return [
      run.label, m.path, run.batchSize, run.seqLen, run.tokensPerBatch, run.iterations, l.count, l.p50, l.p90, l.p99, l.min, l.max, l.mean, l.iqr,
      run.throughput.examplesPerSec, run.throughput.tokensPerSec, run.vsBaseline?.p50Ratio ?? (run.model === r.baseline ? 1 : undefined), run.noisy,
      m.fileBytes, m.weightBytes, m.weightKind, m.createMs, m.memory?.peakRssBytes, m.memory?.sessionRssBytes, m.memory?.method,
      r.settings.device, r.settings.threads, r.machine.cpuModel, r.machine.onnxruntimeVersion,
    ].map(csvCell).join(',');
  });
  return [csvColumns.join(','), ...rows].join('\n') + '\n';
}
