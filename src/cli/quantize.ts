import { isAbsolute, relative } from 'node:path';
import type { Command } from 'commander';
import { ExitCode, UserError } from '../errors.js';
// The quantizer (and the model reader under it) loads when the command runs, not at CLI start-up.
import type { GuardedQuantizeResult } from '../eval/guarded-quantize.js';
import type { QuantizedTensorReport, QuantizeReport } from '../quantize/index.js';
import { defaultOpTypes, quantFormats } from '../quantize/options.js';
import { skippedDecisions } from '../quantize/report.js';
import { formatBytes, formatTable, printJson, spinner, warn, type Cell } from './output.js';

interface QuantizeFlags {
  output: string;
  mode: string;
  format: string;
  weightType: string;
  symmetric?: boolean;
  asymmetric?: boolean;
  perChannel?: boolean;
  reduceRange?: boolean;
  opTypes: string;
  excludeNodes?: string;
  includeNodes?: string;
  bits: string;
  minElements: string;
  externalData?: boolean;
  force?: boolean;
  allowEmpty?: boolean;
  maxDrop?: string;
  minSqnr?: string;
  evalData?: string;
  nodeReport?: boolean;
  samples?: string;
  tokenizer?: string;
  json?: boolean;
}

/** Version of the `--json` document (docs/commands/quantize.md); bumped on any incompatible change. */
export const quantizeJsonSchema = 'onnx-distillery/quantize@1';

export function register(program: Command): void {
  program
    .command('quantize')
    .description('Store MatMul/Gemm weights and embedding tables as int8; activations are quantized at run time')
    .argument('<model>', 'input ONNX model')
    .requiredOption('-o, --output <path>', 'where to write the quantized model (never the input)')
    .option('--mode <mode>', 'dynamic: int8 weights, activations quantized at run time', 'dynamic')
    .option('--format <format>', `how quantized MatMul/Gemm are written: ${quantFormats.join(' | ')} (ms: onnxruntime's com.microsoft ops, fastest here; qoperator, qdq: standard ONNX ops only)`, 'ms')
    .option('--weight-type <type>', 'int8 | uint8', 'int8')
    .option('--symmetric', 'symmetric weight range, zero point 0 (default for int8)')
    .option('--asymmetric', 'asymmetric weight range (default for uint8)')
    .option('--per-channel', 'one scale/zero point per output channel (MatMul: axis 1 of [in,out]; Gemm transB=1: axis 0; Gather: per column)')
    .option('--reduce-range', '7-bit weights, against u8s8 saturation on x86 CPUs without VNNI')
    .option('--op-types <list>', 'comma-separated op types to quantize', defaultOpTypes.join(','))
    .option('--exclude-nodes <list>', 'comma-separated node names to keep in float (each must exist)')
    .option('--include-nodes <list>', 'comma-separated node names: quantize only these (each must exist)')
    .option('--bits <n>', 'bits per weight (only 8 so far)', '8')
    .option('--min-elements <n>', 'weights with fewer elements stay float', '1024')
    .option('--external-data', 'write tensor data to <output>.data next to the model (automatic past 2 GiB)')
    .option('-f, --force', 'overwrite an existing output')
    .option('--allow-empty', 'write the model and exit 0 even when nothing was quantized (otherwise exit 6, nothing written)')
    .option('--max-drop <points>', 'accuracy guard: the most accuracy (percentage points) the int8 model may lose on --eval-data; the most sensitive nodes go back to float until it holds (exit 3 when it cannot)')
    .option('--min-sqnr <dB>', 'accuracy guard on tensor outputs: the least output SQNR against fp32 (on --eval-data rows, else seeded sample inputs)')
    .option('--eval-data <file>', 'labelled text (csv/tsv/jsonl, as eval reads it) for --max-drop, --min-sqnr and --node-report')
    .option('--node-report', "measure each quantized node's output SQNR (alone, and in the quantized model) on sample inputs")
    .option('--samples <n>', 'inputs the node errors are measured on: rows of --eval-data (default 64) or seeded sample inputs (default 8)')
    .option('--tokenizer <path>', 'tokenizer file or folder for --eval-data (default: the one next to the model)')
    .option('--json', 'print the report as JSON')
    .addHelpText('after', '\nExamples:\n  $ distillery quantize model.onnx -o model-int8.onnx\n  $ distillery quantize model.onnx -o model-int8.onnx --per-channel --format qdq\n  $ distillery quantize model.onnx -o out.onnx --exclude-nodes /classifier/Gemm --json\n')
    .action(async (model: string, flags: QuantizeFlags) => {
      if (flags.symmetric && flags.asymmetric) throw new UserError('--symmetric and --asymmetric are mutually exclusive');
      const spin = spinner(`quantizing ${model}`, { quiet: flags.json });
      spin.start();
      const { quantizeFile, NothingToQuantizeError } = await import('../quantize/file.js');
      const options = {
        mode: flags.mode,
        format: flags.format,
        weightType: flags.weightType,
        symmetric: flags.symmetric ? true : flags.asymmetric ? false : undefined,
        perChannel: flags.perChannel,
        reduceRange: flags.reduceRange,
        bits: parseInteger(flags.bits, '--bits'),
        minElements: parseInteger(flags.minElements, '--min-elements'),
        opTypes: parseList(flags.opTypes),
        excludeNodes: flags.excludeNodes !== undefined ? parseList(flags.excludeNodes) : undefined,
        includeNodes: flags.includeNodes !== undefined ? parseList(flags.includeNodes) : undefined,
        externalData: flags.externalData ? true : ('auto' as const),
        force: flags.force,
        allowEmpty: flags.allowEmpty,
      };
      const guarded = flags.maxDrop !== undefined || flags.minSqnr !== undefined || flags.nodeReport;
      if (!guarded && (flags.evalData !== undefined || flags.samples !== undefined)) {
        throw new UserError('--eval-data and --samples go with --max-drop, --min-sqnr or --node-report');
      }
      let result: GuardedQuantizeResult;
      try {
        if (guarded) {
          const { guardedQuantizeFile } = await import('../eval/guarded-quantize.js');
          result = await guardedQuantizeFile(model, flags.output, {
            ...options,
            maxDrop: flags.maxDrop !== undefined ? parseNumber(flags.maxDrop, '--max-drop') : undefined,
            minSqnr: flags.minSqnr !== undefined ? parseNumber(flags.minSqnr, '--min-sqnr') : undefined,
            evalData: flags.evalData,
            nodeReport: flags.nodeReport,
            samples: flags.samples !== undefined ? parseInteger(flags.samples, '--samples') : undefined,
            tokenizer: flags.tokenizer,
            onProgress: (text) => (spin.text = text),
          });
        } else {
          result = { report: await quantizeFile(model, flags.output, options) };
        }
      } catch (e) {
        spin.stop();
        if (e instanceof NothingToQuantizeError) {
          if (flags.json) printJson({ schema: quantizeJsonSchema, written: false, quantizedNothing: true, message: e.message, report: e.report });
          warn(e.message);
          process.exitCode = ExitCode.nothingQuantized;
          return;
        }
        if (e instanceof Error && e.name === 'BudgetNotMetError') {
          const missed = (e as Error & { result: GuardedQuantizeResult }).result;
          if (flags.json) printJson({ schema: quantizeJsonSchema, written: false, message: e.message, ...missed.report, guard: missed.guard, nodeErrors: missed.nodeErrors });
          else process.stdout.write(formatGuard(missed) + '\n');
          warn(e.message);
          process.exitCode = ExitCode.accuracyBudget;
          return;
        }
        throw e;
      }
      spin.stop();
      const { report } = result;
      if (flags.json) {
        printJson({ schema: quantizeJsonSchema, written: true, quantizedNothing: report.tensors.length === 0, ...report, guard: result.guard, nodeErrors: result.nodeErrors, samples: result.samples });
      } else {
        const extra = formatGuard(result);
        process.stdout.write(formatReport(report) + (extra ? `\n\n${extra}` : '') + '\n');
      }
    });
}

/** The guard's outcome and the per-node error table, when they were asked for. */
export function formatGuard(result: GuardedQuantizeResult): string {
  const lines: string[] = [];
  const g = result.guard;
  if (g) {
    const fmt = (v: number) => v.toFixed(2);
    lines.push(`Accuracy guard (${g.metric}, ${g.budget}): ${fmt(g.initialValue)} with all ${g.candidateNodes} nodes int8 -> ${fmt(g.finalValue)}: ${g.met ? 'met' : 'NOT met'}`);
    if (g.reverted.length) {
      lines.push(formatTable(['node', 'op', 'own SQNR dB', `${g.metric} after`], g.reverted.map((r) => [r.node, r.opType, r.sqnrDb === null ? 'exact' : Number(r.sqnrDb.toFixed(1)), fmt(r.valueAfter)]), { title: `Reverted to float (${g.reverted.length})` }));
    }
    lines.push(`${g.int8Nodes} of ${g.candidateNodes} nodes stay int8; ${g.evaluations} candidate models measured`);
  }
  if (result.nodeErrors) {
    if (lines.length) lines.push('');
    const src = result.samples ? ` on ${result.samples.count} ${result.samples.source === 'eval-data' ? 'batches of --eval-data rows' : 'seeded sample inputs'}` : '';
    const db = (v: number | null) => (v === null ? 'exact' : Number(v.toFixed(1)));
    lines.push(formatTable(['node', 'op', 'output', 'own SQNR dB', 'in int8 model dB'], result.nodeErrors.map((e) => [e.node, e.opType, e.output, db(e.sqnrDb), db(e.cumulativeSqnrDb)]), { title: `Per-node error${src}, worst first` }));
  }
  return lines.join('\n');
}

function parseNumber(s: string, flag: string): number {
  const n = Number(s);
  if (s.trim() === '' || !Number.isFinite(n)) throw new UserError(`${flag} ${s}: expected a number`);
  return n;
}

/** The output path as the user would type it: relative when it is under the working directory. */
function shownPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}

function parseList(s: string): string[] {
  return s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
}

function parseInteger(s: string, flag: string): number {
  const n = Number(s);
  if (!Number.isInteger(n)) throw new UserError(`${flag} ${s}: expected an integer`);
  return n;
}

const NOT_CONSTANT = /is not a constant \(computed at run time\)$/;

/** The report for people: quantized tensors, skipped nodes grouped, sizes. */
export function formatReport(report: QuantizeReport): string {
  const o = report.options;
  const lines: string[] = [];
  const prep = preparationLine(report);
  if (prep) lines.push(prep, '');
  const style = `${o.mode}, ${o.format}, ${o.weightType} ${o.symmetric ? 'symmetric' : 'asymmetric'}${o.reduceRange ? ' 7-bit' : ''}, ${o.perChannel ? 'per-channel' : 'per-tensor'}`;
  if (report.tensors.length === 0) {
    lines.push(`Quantized nothing (${style}): the model was written without int8 weights (--allow-empty)`);
  } else {
    lines.push(
      formatTable(
        ['tensor', 'op', 'shape', 'scale', 'zero point', 'max abs err', 'SQNR dB'],
        report.tensors.map(tensorRow),
        { title: `Quantized ${report.tensors.length} tensors (${style})` },
      ),
    );
  }
  const skipped = skippedDecisions(report);
  const notable = skipped.filter((d) => !NOT_CONSTANT.test(d.reason));
  const computed = skipped.length - notable.length;
  if (skipped.length) {
    lines.push('');
    if (notable.length) {
      lines.push(formatTable(['node', 'op', 'skipped because'], notable.map((d) => [d.node, d.opType, d.reason]), { title: `Skipped ${skipped.length} nodes` }));
    } else {
      lines.push(`Skipped ${skipped.length} nodes`);
    }
    if (computed) lines.push(`  ${computed} of them read no constant weight (activations, shapes): ${summarizeOps(skipped.filter((d) => NOT_CONSTANT.test(d.reason)))}`);
  }
  lines.push('');
  if (report.files) {
    const f = report.files;
    lines.push(`Size: ${formatBytes(f.bytesBefore)} -> ${formatBytes(f.bytesAfter)} (${f.ratio.toFixed(3)} of the input)  ${shownPath(f.output)}`);
  } else {
    const b = report.initializerBytes;
    lines.push(`Tensor data: ${formatBytes(b.before)} -> ${formatBytes(b.after)} (${(b.after / b.before).toFixed(3)})`);
  }
  return lines.join('\n');
}

function preparationLine(report: QuantizeReport): string | undefined {
  const p = report.preparation;
  const parts: string[] = [];
  if (p.constantsHoisted) parts.push(`${p.constantsHoisted} Constant nodes moved to initializers`);
  if (p.opsetUpgrade) {
    const rewritten = Object.entries(p.opsetUpgrade.rewritten).map(([op, n]) => `${n} ${op}`);
    parts.push(`opset ${p.opsetUpgrade.from} -> ${p.opsetUpgrade.to}${rewritten.length ? ` (rewritten: ${rewritten.join(', ')})` : ''}`);
  }
  if (p.opsetRefusal) parts.push(p.opsetRefusal.message);
  return parts.length ? `Prepared: ${parts.join('; ')}` : undefined;
}

function summarizeOps(decisions: Array<{ opType: string }>): string {
  const counts = new Map<string, number>();
  for (const d of decisions) counts.set(d.opType, (counts.get(d.opType) ?? 0) + 1);
  return [...counts].map(([op, n]) => `${n} ${op}`).join(', ');
}

function tensorRow(t: QuantizedTensorReport): Cell[] {
  const range = (v: number | number[], digits: (x: number) => string) => {
    if (!Array.isArray(v)) return digits(v);
    const lo = Math.min(...v);
    const hi = Math.max(...v);
    return lo === hi ? `${digits(lo)} x${v.length}` : `${digits(lo)}..${digits(hi)} (${v.length})`;
  };
  return [
    t.name,
    t.opType,
    `[${t.shape.join(', ')}]`,
    range(t.scale, (x) => x.toPrecision(4)),
    range(t.zeroPoint, String),
    Number(t.maxAbsError.toPrecision(3)),
    t.sqnrDb === null ? 'exact' : Number(t.sqnrDb.toFixed(1)),
  ];
}
