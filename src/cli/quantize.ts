import type { Command } from 'commander';
import { UserError } from '../errors.js';
// The quantizer (and the model reader under it) loads when the command runs, not at CLI start-up.
import type { QuantizedTensorReport, QuantizeReport } from '../quantize/index.js';
import { defaultOpTypes, quantFormats } from '../quantize/options.js';
import { skippedDecisions } from '../quantize/report.js';
import { formatBytes, formatTable, printJson, spinner, type Cell } from './output.js';

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
    .option('-f, --force', 'overwrite an existing output; write the model even when nothing was quantized')
    .option('--json', 'print the report as JSON')
    .addHelpText('after', '\nExamples:\n  $ distillery quantize model.onnx -o model-int8.onnx\n  $ distillery quantize model.onnx -o model-int8.onnx --per-channel --format qdq\n  $ distillery quantize model.onnx -o out.onnx --exclude-nodes /classifier/Gemm --json\n')
    .action(async (model: string, flags: QuantizeFlags) => {
      if (flags.symmetric && flags.asymmetric) throw new UserError('--symmetric and --asymmetric are mutually exclusive');
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
          bits: parseInteger(flags.bits, '--bits'),
          minElements: parseInteger(flags.minElements, '--min-elements'),
          opTypes: parseList(flags.opTypes),
          excludeNodes: flags.excludeNodes !== undefined ? parseList(flags.excludeNodes) : undefined,
          includeNodes: flags.includeNodes !== undefined ? parseList(flags.includeNodes) : undefined,
          externalData: flags.externalData ? true : 'auto',
          force: flags.force,
        });
      } catch (e) {
        spin.stop();
        // Nothing to quantize (an int8 model, no MatMul/Gemm) is bad input like any other: exit 2, one error line.
        if (e instanceof NothingToQuantizeError && flags.json) printJson({ schema: quantizeJsonSchema, written: false, message: e.message, report: e.report });
        throw e;
      }
      spin.stop();
      if (flags.json) printJson({ schema: quantizeJsonSchema, written: true, ...report });
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
  const style = `${o.mode}, ${o.format}, ${o.weightType} ${o.symmetric ? 'symmetric' : 'asymmetric'}${o.reduceRange ? ' 7-bit' : ''}, ${o.perChannel ? 'per-channel' : 'per-tensor'}`;
  lines.push(
    formatTable(
      ['tensor', 'op', 'shape', 'scale', 'zero point', 'max abs err', 'SQNR dB'],
      report.tensors.map(tensorRow),
      { title: `Quantized ${report.tensors.length} tensors (${style})` },
    ),
  );
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
