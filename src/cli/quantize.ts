import type { Command } from 'commander';
import { ExitCode, UserError } from '../errors.js';
// The quantizer (and the model reader under it) loads when the command runs, not at CLI start-up.
import type { GuardedQuantizeResult } from '../eval/guarded-quantize.js';
import type { QuantizedTensorReport, QuantizeReport } from '../quantize/index.js';
import { defaultOpTypes, quantFormats } from '../quantize/options.js';
import { defaultStaticOpTypes } from '../quantize/ops/static-registry.js';
import { defaultAccuracyLevel, defaultBlockSize } from '../quantize/block-options.js';
import { transformersDtypes } from '../quantize/variants.js';
import type { TransformersFolderFile, TransformersFolderReport } from '../publish/transformers-folder.js';
import { skippedDecisions, type CalibrationMemoryReport } from '../quantize/report.js';
import { formatBytes, formatTable, printJson, shownPath, spinner, warn, type Cell } from './output.js';

interface QuantizeFlags {
  output: string;
  mode: string;
  format?: string;
  weightType: string;
  calibrate?: string;
  calibrationMethod: string;
  calibrationSize: string;
  calibrationBatchSize: string;
  activationMemory?: string;
  ortOptimize?: boolean;
  percentile?: string;
  movingAverage?: string;
  activationType: string;
  activationSymmetric?: boolean;
  textCol?: string;
  symmetric?: boolean;
  asymmetric?: boolean;
  perChannel?: boolean;
  reduceRange?: boolean;
  opTypes?: string;
  excludeNodes?: string;
  includeNodes?: string;
  bits?: string;
  blockSize?: string;
  accuracyLevel?: string;
  minElements: string;
  dtype?: string;
  evalData?: string;
  fp16Target?: string;
  fp16Keep?: string;
  fp16Io?: boolean;
  externalData?: boolean;
  force?: boolean;
  allowEmpty?: boolean;
  maxDrop?: string;
  minSqnr?: string;
  nodeReport?: boolean;
  samples?: string;
  tokenizer?: string;
  threads?: string;
  json?: boolean;
}

/** Version of the `--json` document (docs/commands/quantize.md); bumped on any incompatible change. */
export const quantizeJsonSchema = 'onnx-distillery/quantize@1';

export function register(program: Command): void {
  program
    .command('quantize')
    .description('Store MatMul/Gemm weights and embedding tables as int8 (activations quantized at run time; --mode static: with calibrated ranges), as 4-bit blocks (--bits 4), or as a transformers.js folder of variants (--dtype)')
    .argument('<model>', 'input ONNX model')
    .requiredOption('-o, --output <path>', 'where to write the quantized model (never the input)')
    .option('--mode <mode>', 'dynamic: int8 weights, activations quantized at run time; static: activations too, ranges from --calibrate data', 'dynamic')
    .option('--format <format>', `how quantized ops are written: ${quantFormats.join(' | ')} (default ms for dynamic: onnxruntime's com.microsoft ops, fastest here; qdq for static: QuantizeLinear/DequantizeLinear pairs; qoperator: integer ops)`)
    .option('--calibrate <file>', 'static: calibration data, text (csv/tsv/jsonl, through the model\'s tokenizer) or a tensor .jsonl ({"input": {"dims": [...], "data": [...]}} per line)')
    .option('--calibration-method <m>', 'static: minmax | percentile | entropy', 'minmax')
    .option('--calibration-size <n>', 'static: calibration examples used at most', '128')
    .option('--calibration-batch-size <n>', 'static: text rows per calibration run (bounds memory)', '8')
    .option('--activation-memory <MiB>', 'activations one onnxruntime run may hold when calibrating (static) or measuring node errors (guard, --node-report); more are split into groups run separately (default 1024)')
    .option('--percentile <p>', 'static, percentile: share of |x| kept, in percent (default 99.999)')
    .option('--moving-average <c>', 'static, minmax: moving-average constant per batch (e.g. 0.01) instead of the running min/max')
    .option('--activation-type <t>', 'static: uint8 | int8 activations', 'uint8')
    .option('--activation-symmetric', 'static: symmetric activation ranges')
    .option('--text-col <name>', 'static: column (or jsonl key) of the calibration text')
    .option('--ort-optimize', "onnxruntime's basic graph optimizations first (constant folding, redundant nodes, Conv+BatchNorm): weights reached through Transpose/Cast/Mul of constants become quantizable")
    .option('--weight-type <type>', 'int8 | uint8', 'int8')
    .option('--symmetric', 'symmetric weight range, zero point 0 (default for int8)')
    .option('--asymmetric', 'asymmetric weight range (default for uint8)')
    .option('--per-channel', 'one scale/zero point per output channel (MatMul: axis 1 of [in,out]; Gemm transB=1: axis 0; Gather: per column)')
    .option('--reduce-range', '7-bit weights, against u8s8 saturation on x86 CPUs without VNNI')
    .option('--op-types <list>', `comma-separated op types to quantize (default ${defaultOpTypes.join(',')}; static: ${defaultStaticOpTypes.join(',')})`)
    .option('--exclude-nodes <list>', 'comma-separated node names to keep in float (each must exist)')
    .option('--include-nodes <list>', 'comma-separated node names: quantize only these (each must exist)')
    .option('--bits <n>', '4 | 8: weight-only block quantization (MatMul/Gemm -> com.microsoft.MatMulNBits, embeddings -> GatherBlockQuantized); omit for dynamic int8')
    .option('--block-size <n>', `with --bits: values per block along K, a power of two >= 16 (default ${defaultBlockSize})`)
    .option('--accuracy-level <n>', `with --bits: MatMulNBits accuracy_level 0 | 1 | 4 (4 = int8 compute of the activations; default ${defaultAccuracyLevel}, the fastest here at equal accuracy)`)
    .option('--dtype <list>', `transformers.js variants (${transformersDtypes.join(',')}): -o is then a folder that gets onnx/model{_suffix}.onnx per dtype, config.json and tokenizer.json beside it (or one .onnx file for one dtype)`)
    .option('--eval-data <file>', "labelled text (csv/tsv/jsonl, as eval reads it): with --dtype each file's accuracy against the fp32 model; with --max-drop, --min-sqnr, --node-report what the guard and the node errors are measured on")
    .option('--fp16-target <target>', `fp16/q4f16: cpu = float16 compute only where onnxruntime 1.30's CPU provider has float16 kernels (default), any = every op but an accuracy block list (WebGPU, CUDA)`)
    .option('--fp16-keep <ops>', 'fp16/q4f16: more op types to keep in float32 (comma-separated)')
    .option('--fp16-io', 'fp16/q4f16: float graph inputs and outputs in float16 too (default: float32, Casts at the edges)')
    .option('--min-elements <n>', 'weights with fewer elements stay float', '1024')
    .option('--external-data', 'write tensor data to <output>.data next to the model (automatic past 2 GiB)')
    .option('-f, --force', 'overwrite an existing output')
    .option('--allow-empty', 'write the model and exit 0 even when nothing was quantized (otherwise exit 6, nothing written)')
    .option('--max-drop <points>', 'accuracy guard: the most accuracy (percentage points) the int8 model may lose on --eval-data; the most sensitive nodes go back to float until it holds (exit 3 when it cannot)')
    .option('--min-sqnr <dB>', 'accuracy guard on tensor outputs: the least output SQNR against fp32 (on --eval-data rows, else seeded sample inputs)')
    .option('--node-report', "measure each quantized node's output SQNR (alone, and in the quantized model) on sample inputs")
    .option('--samples <n>', 'inputs the node errors are measured on: rows of --eval-data (default 64) or seeded sample inputs (default 8)')
    .option('--tokenizer <path>', 'tokenizer file or folder for --eval-data (default: the one next to the model)')
    .option('--threads <n>', 'threads quantizing large weights (worker threads; default and 0: 1, more was slower on a loaded machine, measure yours)', '1')
    .option('--json', 'print the report as JSON')
    .addHelpText('after', '\nExamples:\n  $ distillery quantize model.onnx -o model-int8.onnx\n  $ distillery quantize model.onnx -o model-int8.onnx --per-channel --format qdq\n  $ distillery quantize model.onnx -o out.onnx --exclude-nodes /classifier/Gemm --json\n  $ distillery quantize model.onnx -o model-int8.onnx --max-drop 0.5 --eval-data dev.tsv\n  $ distillery quantize model.onnx -o static/model.onnx --mode static --calibrate train.tsv --calibration-method entropy\n  $ distillery quantize model.onnx -o model-q4.onnx --bits 4\n  $ distillery quantize model.onnx -o folder/ --dtype fp32,fp16,q8,q4 --eval-data dev.tsv\n')
    .action(async (model: string, flags: QuantizeFlags) => {
      if (flags.symmetric && flags.asymmetric) throw new UserError('--symmetric and --asymmetric are mutually exclusive');
      if (flags.mode === 'static' && !flags.calibrate) throw new UserError('--mode static needs --calibrate <file> (calibration data)');
      if (flags.mode !== 'static' && flags.calibrate) throw new UserError('--calibrate applies to --mode static only');
      if (flags.dtype !== undefined && flags.ortOptimize) throw new UserError('--ort-optimize goes with quantize to one model, not with --dtype (variants are made from the model as it is)');
      if (flags.dtype !== undefined && flags.activationMemory !== undefined) throw new UserError('--activation-memory goes with --mode static, --max-drop, --min-sqnr or --node-report, not with --dtype');
      if (flags.dtype !== undefined) return writeDtypes(model, flags);
      if (flags.fp16Target !== undefined || flags.fp16Keep !== undefined || flags.fp16Io) throw new UserError('--fp16-target, --fp16-keep and --fp16-io go with --dtype fp16 or q4f16');
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
        bits: flags.bits === undefined ? undefined : parseInteger(flags.bits, '--bits'),
        blockSize: flags.blockSize === undefined ? undefined : parseInteger(flags.blockSize, '--block-size'),
        accuracyLevel: flags.accuracyLevel === undefined ? undefined : parseInteger(flags.accuracyLevel, '--accuracy-level'),
        minElements: parseInteger(flags.minElements, '--min-elements'),
        opTypes: flags.opTypes !== undefined ? parseList(flags.opTypes) : undefined,
        calibration:
          flags.mode === 'static'
            ? {
                data: { kind: 'file' as const, path: flags.calibrate!, dataset: flags.textCol ? { textCol: flags.textCol } : undefined },
                method: flags.calibrationMethod,
                size: parseInteger(flags.calibrationSize, '--calibration-size'),
                batchSize: parseInteger(flags.calibrationBatchSize, '--calibration-batch-size'),
                percentile: flags.percentile !== undefined ? parseNumber(flags.percentile, '--percentile') : undefined,
                movingAverage: flags.movingAverage !== undefined ? parseNumber(flags.movingAverage, '--moving-average') : undefined,
                activationType: flags.activationType,
                activationSymmetric: flags.activationSymmetric,
              }
            : undefined,
        onCalibrationProgress: (rows: number, pass: number, passes: number) =>
          (spin.text = `calibrating ${model}: ${rows} examples${passes > 1 ? ` (pass ${pass} of ${passes})` : ''}`),
        excludeNodes: flags.excludeNodes !== undefined ? parseList(flags.excludeNodes) : undefined,
        includeNodes: flags.includeNodes !== undefined ? parseList(flags.includeNodes) : undefined,
        externalData: flags.externalData ? true : ('auto' as const),
        ortOptimize: flags.ortOptimize,
        activationMemoryMiB: flags.activationMemory !== undefined ? parseNumber(flags.activationMemory, '--activation-memory') : undefined,
        force: flags.force,
        allowEmpty: flags.allowEmpty,
        threads: parseInteger(flags.threads ?? '1', '--threads'),
      };
      const guarded = flags.maxDrop !== undefined || flags.minSqnr !== undefined || flags.nodeReport;
      if (!guarded && (flags.evalData !== undefined || flags.samples !== undefined)) {
        throw new UserError('--eval-data and --samples go with --dtype, --max-drop, --min-sqnr or --node-report');
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
    if (g.restored.length) lines.push(`Back in int8 once the budget held without them: ${g.restored.join(', ')}`);
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

/** What one calibration run held and how many passes the budget took. */
function memoryLine(m: CalibrationMemoryReport): string {
  if (m.shapes !== 'probed') return `Calibration memory: activation sizes unknown (${m.shapes}); one pass held every calibrated activation`;
  const at = Object.entries(m.sizes).map(([k, v]) => `${k} ${v}`).join(', ');
  const passes = m.passes === 1 ? 'one pass' : `${m.passes} passes over the data, at most ${formatBytes(m.bytesPerRun)} each`;
  const over = m.oversized.length ? `; ${m.oversized.length} activation(s) alone over the budget: ${m.oversized.slice(0, 3).join(', ')}${m.oversized.length > 3 ? ', ...' : ''}` : '';
  return `Calibration memory: ${formatBytes(m.activationBytes)} of activations per run${at ? ` at ${at}` : ''}, budget ${formatBytes(m.budgetBytes)}: ${passes}${over}`;
}

/** The report for people: quantized tensors, skipped nodes grouped, sizes. */
export function formatReport(report: QuantizeReport): string {
  const o = report.options;
  const lines: string[] = [];
  const prep = preparationLine(report);
  if (prep) lines.push(prep, '');
  const c = report.calibration;
  if (c) {
    const extras = [c.foldedBatchNorms ? `${c.foldedBatchNorms} BatchNorm folded into Conv` : '', c.qoperatorNodes ? `${c.qoperatorNodes} nodes as integer ops` : ''].filter(Boolean);
    lines.push(
      `Calibrated ${c.activations.length} activations (${c.activationType}, ${c.method}) on ${c.rows} examples in ${c.batches} batches${extras.length ? `; ${extras.join('; ')}` : ''}`,
      memoryLine(c.memory),
      '',
    );
  }
  const style = o.block
    ? `weight-only, ${o.block.bits}-bit blocks of ${o.block.blockSize}, ${o.block.symmetric ? 'symmetric' : 'asymmetric'}, accuracy_level ${o.block.accuracyLevel}`
    : `${o.mode}, ${o.format}, ${o.weightType} ${o.symmetric ? 'symmetric' : 'asymmetric'}${o.reduceRange ? ' 7-bit' : ''}, ${o.perChannel ? 'per-channel' : 'per-tensor'}`;
  const blocks = report.tensors.some((t) => t.block);
  if (report.tensors.length === 0) {
    lines.push(`Quantized nothing (${style}): the model was written without int8 weights (--allow-empty)`);
  } else {
    lines.push(
      formatTable(
        ['tensor', 'op', 'shape', ...(blocks ? ['bits', 'block'] : []), 'scale', 'zero point', 'max abs err', 'SQNR dB'],
        report.tensors.map((t) => tensorRow(t, blocks)),
        { title: `Quantized ${report.tensors.length} tensors (${style})` },
      ),
    );
  }
  for (const d of report.decisions) if (d.status === 'quantized' && d.note) lines.push(`  ${d.node} (${d.opType}): ${d.note}`);
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
  if (p.ortOptimize) {
    const o = p.ortOptimize;
    const changes = Object.entries(o.opTypeChanges).map(([op, n]) => `${n > 0 ? '+' : ''}${n} ${op}`);
    parts.push(`onnxruntime ${o.level} optimizations: ${o.nodesBefore} -> ${o.nodesAfter} nodes${changes.length ? ` (${changes.join(', ')})` : ''}`);
  }
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

function tensorRow(t: QuantizedTensorReport, blocks: boolean): Cell[] {
  const range = (v: number | number[], digits: (x: number) => string) => {
    if (!Array.isArray(v)) return digits(v);
    const lo = Math.min(...v);
    const hi = Math.max(...v);
    return lo === hi ? `${digits(lo)} x${v.length}` : `${digits(lo)}..${digits(hi)} (${v.length})`;
  };
  const b = t.block;
  return [
    t.name,
    t.opType,
    `[${t.shape.join(', ')}]`,
    ...(blocks ? [b ? b.bits : '', b ? b.size : ''] : []),
    b ? `${b.scaleMin.toPrecision(3)}..${b.scaleMax.toPrecision(3)} (${b.count})` : range(t.scale, (x) => x.toPrecision(4)),
    t.zeroPoint === null ? 'per block' : range(t.zeroPoint, String),
    Number(t.maxAbsError.toPrecision(3)),
    t.sqnrDb === null ? 'exact' : Number(t.sqnrDb.toFixed(1)),
  ];
}

/** `--dtype`: transformers.js variants, into a folder (or one file), then one table. */
async function writeDtypes(model: string, flags: QuantizeFlags): Promise<void> {
  const { parseTransformersDtypes } = await import('../quantize/variants.js');
  const { writeTransformersFolder, writeVariantFile } = await import('../publish/transformers-folder.js');
  const dtypes = parseTransformersDtypes(parseList(flags.dtype!));
  const variantOptions = {
    blockSize: flags.blockSize === undefined ? undefined : parseInteger(flags.blockSize, '--block-size'),
    accuracyLevel: flags.accuracyLevel === undefined ? undefined : parseInteger(flags.accuracyLevel, '--accuracy-level'),
    fp16Target: flags.fp16Target as 'cpu' | 'any' | undefined,
    fp16Keep: flags.fp16Keep === undefined ? undefined : parseList(flags.fp16Keep),
    fp16Io: flags.fp16Io,
    force: flags.force,
  };
  if (flags.bits !== undefined) throw new UserError('--bits does not combine with --dtype (q4 and q4f16 are the 4-bit dtypes)');
  const { fp16Targets } = await import('../quantize/fp16/convert.js');
  if (flags.fp16Target !== undefined && !(fp16Targets as readonly string[]).includes(flags.fp16Target)) {
    throw new UserError(`--fp16-target ${flags.fp16Target}: expected ${fp16Targets.join(' or ')}`);
  }
  const spin = spinner(`writing ${dtypes.join(', ')}`, { quiet: flags.json });
  spin.start();
  try {
    if (flags.output.endsWith('.onnx')) {
      if (dtypes.length !== 1) throw new UserError(`-o ${flags.output}: one .onnx file takes one --dtype; give a folder for ${dtypes.length}`);
      if (flags.evalData) throw new UserError('--eval-data needs a folder output (-o <folder>)');
      const file = await writeVariantFile(model, flags.output, dtypes[0]!, variantOptions);
      spin.stop();
      if (flags.json) printJson({ schema: 'onnx-distillery/quantize-folder@1', input: model, files: [file] });
      else process.stdout.write(formatVariantTable([file], undefined) + '\n');
      return;
    }
    const report = await writeTransformersFolder(model, flags.output, { ...variantOptions, dtypes, evalData: flags.evalData, onProgress: (m) => (spin.text = m) });
    spin.stop();
    if (flags.json) printJson(report);
    else process.stdout.write(formatVariantTable(report.files, report) + '\n');
  } finally {
    spin.stop();
  }
}

function formatVariantTable(files: TransformersFolderFile[], report: TransformersFolderReport | undefined): string {
  const evald = files.some((f) => f.accuracy !== undefined);
  const timed = files.some((f) => f.latencyMs !== undefined);
  const pct = (x: number) => `${(100 * x).toFixed(2)} %`;
  const rows = files.map((f) => [
    f.file,
    f.dtype,
    formatBytes(f.bytes),
    Number(f.ratio.toFixed(3)),
    ...(evald ? [pct(f.accuracy!), `${f.dropPoints! > 0 ? '-' : '+'}${Math.abs(f.dropPoints!).toFixed(2)}`, pct(f.agreement!)] : []),
    ...(timed ? [f.latencyMs === undefined ? '' : `${f.latencyMs.toFixed(2)} ms`] : []),
    f.recipe,
  ]);
  const latencyHead = report?.latency ? `p50 b1/s${report.latency.seqLen}` : 'p50 b1';
  const head = ['file', 'dtype', 'size', 'of fp32', ...(evald ? ['accuracy', 'vs fp32', 'same label'] : []), ...(timed ? [latencyHead] : []), 'how'];
  const lines = [formatTable(head, rows as Cell[][], { title: report ? `transformers.js folder ${report.folder}` : 'Wrote' })];
  if (report) {
    lines.push('', `Beside onnx/: ${report.companions.join(', ')}${report.tokenizerGenerated ? ' (tokenizer.json and tokenizer_config.json made from vocab.txt)' : ''}`);
    if (report.eval) lines.push(`fp32 accuracy on ${report.eval.data}: ${pct(report.eval.fp32Accuracy)} (${report.eval.examples} examples)`);
  }
  return lines.join('\n');
}
