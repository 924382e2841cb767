import type { Command } from 'commander';
import { ExitCode, UserError } from '../errors.js';
// The quantizer (and the model reader under it) loads when the command runs, not at CLI start-up.
import type { QuantizedTensorReport, QuantizeReport } from '../quantize/index.js';
import { defaultOpTypes, quantFormats } from '../quantize/options.js';
import { defaultAccuracyLevel, defaultBlockSize } from '../quantize/block-options.js';
import { transformersDtypes } from '../quantize/variants.js';
import type { TransformersFolderFile, TransformersFolderReport } from '../publish/transformers-folder.js';
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
  bits?: string;
  blockSize?: string;
  accuracyLevel?: string;
  minElements: string;
  dtype?: string;
  evalData?: string;
  fp16Target?: string;
  fp16Keep?: string;
  externalData?: boolean;
  force?: boolean;
  allowEmpty?: boolean;
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
    .option('--bits <n>', '4 | 8: weight-only block quantization (MatMul/Gemm -> com.microsoft.MatMulNBits, embeddings -> GatherBlockQuantized); omit for dynamic int8')
    .option('--block-size <n>', `with --bits: values per block along K, a power of two >= 16 (default ${defaultBlockSize})`)
    .option('--accuracy-level <n>', `with --bits: MatMulNBits accuracy_level 0 | 1 | 4 (4 = int8 compute of the activations; default ${defaultAccuracyLevel}, the fastest here at equal accuracy)`)
    .option('--dtype <list>', `transformers.js variants (${transformersDtypes.join(',')}): -o is then a folder that gets onnx/model{_suffix}.onnx per dtype, config.json and tokenizer.json beside it (or one .onnx file for one dtype)`)
    .option('--eval-data <file>', 'with --dtype: labelled text data (csv/tsv/jsonl, as eval reads it); the table shows each file\'s accuracy against the fp32 model')
    .option('--fp16-target <target>', `fp16/q4f16: cpu = float16 compute only where onnxruntime 1.30's CPU provider has float16 kernels (default), any = every op but an accuracy block list (WebGPU, CUDA)`)
    .option('--fp16-keep <ops>', 'fp16/q4f16: more op types to keep in float32 (comma-separated)')
    .option('--min-elements <n>', 'weights with fewer elements stay float', '1024')
    .option('--external-data', 'write tensor data to <output>.data next to the model (automatic past 2 GiB)')
    .option('-f, --force', 'overwrite an existing output')
    .option('--allow-empty', 'write the model and exit 0 even when nothing was quantized (otherwise exit 6, nothing written)')
    .option('--json', 'print the report as JSON')
    .addHelpText('after', '\nExamples:\n  $ distillery quantize model.onnx -o model-int8.onnx\n  $ distillery quantize model.onnx -o model-int8.onnx --per-channel --format qdq\n  $ distillery quantize model.onnx -o out.onnx --exclude-nodes /classifier/Gemm --json\n')
    .action(async (model: string, flags: QuantizeFlags) => {
      if (flags.symmetric && flags.asymmetric) throw new UserError('--symmetric and --asymmetric are mutually exclusive');
      if (flags.dtype !== undefined) return writeDtypes(model, flags);
      if (flags.evalData !== undefined) throw new UserError('--eval-data needs --dtype (it measures the variants written)');
      const spin = spinner(`quantizing ${model}`, { quiet: flags.json });
      spin.start();
      const { quantizeFile, NothingToQuantizeError } = await import('../quantize/file.js');
      let report: QuantizeReport;
      try {
        report = await quantizeFile(model, flags.output, {
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
          opTypes: parseList(flags.opTypes),
          excludeNodes: flags.excludeNodes !== undefined ? parseList(flags.excludeNodes) : undefined,
          includeNodes: flags.includeNodes !== undefined ? parseList(flags.includeNodes) : undefined,
          externalData: flags.externalData ? true : 'auto',
          force: flags.force,
          allowEmpty: flags.allowEmpty,
        });
      } catch (e) {
        spin.stop();
        if (e instanceof NothingToQuantizeError) {
          if (flags.json) printJson({ schema: quantizeJsonSchema, written: false, quantizedNothing: true, message: e.message, report: e.report });
          warn(e.message);
          process.exitCode = ExitCode.nothingQuantized;
          return;
        }
        throw e;
      }
      spin.stop();
      if (flags.json) printJson({ schema: quantizeJsonSchema, written: true, quantizedNothing: report.tensors.length === 0, ...report });
      else process.stdout.write(formatReport(report) + '\n');
    });
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
    lines.push(`Size: ${formatBytes(f.bytesBefore)} -> ${formatBytes(f.bytesAfter)} (${f.ratio.toFixed(3)} of the input)  ${f.output}`);
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
    force: flags.force,
  };
  if (flags.bits !== undefined) throw new UserError('--bits does not combine with --dtype (q4 and q4f16 are the 4-bit dtypes)');
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
