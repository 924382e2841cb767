import { stat } from 'node:fs/promises';
import type { Command } from 'commander';
// The model reader (protobufjs) loads when the command runs, not at CLI start-up.
import type { ModelSummary, QuantizedTensorSummary } from '../inspect/index.js';
import { formatBytes, formatTable, printJson, type Cell } from './output.js';

/** Version of the `--json` document (docs/commands/inspect.md); bumped on any incompatible change. */
export const inspectJsonSchema = 'onnx-distillery/inspect@1';

export function register(program: Command): void {
  program
    .command('inspect')
    .description('Show a model: inputs/outputs, opsets, IR version, op histogram, parameters, bytes by dtype, quantized tensors')
    .argument('<model>', 'ONNX model file')
    .option('--json', 'print the summary as JSON')
    .addHelpText('after', '\nExamples:\n  $ distillery inspect model.onnx\n  $ distillery inspect model-int8.onnx --json\n')
    .action(async (path: string, flags: { json?: boolean }) => {
      // Weights stay on disk: inspecting a 2 GB model reads its structure, not its tensors.
      const [{ loadModelLazy }, { inspectModel }] = await Promise.all([import('../onnx/index.js'), import('../inspect/index.js')]);
      const model = await loadModelLazy(path);
      const summary = inspectModel(model, { path });
      const fileBytes = (await stat(path)).size;
      if (flags.json) printJson({ schema: inspectJsonSchema, file: path, fileBytes, ...summary });
      else process.stdout.write(formatSummary(path, fileBytes, summary) + '\n');
    });
}

const shapeText = (s: Array<number | string> | null) => (s ? `[${s.join(', ')}]` : '(unknown rank)');

/** The summary for people. */
export function formatSummary(path: string, fileBytes: number, s: ModelSummary): string {
  const lines: string[] = [];
  lines.push(`${path}  ${formatBytes(fileBytes)}${s.externalTensors ? ` (+ external data for ${s.externalTensors} tensors)` : ''}`);
  lines.push(`IR version ${s.irVersion}, producer ${[s.producer, s.producerVersion].filter(Boolean).join(' ') || '-'}, opsets ${s.opsets.map((o) => `${o.domain} ${o.version}`).join(', ')}`);
  lines.push('');
  lines.push(formatTable(['input', 'dtype', 'shape'], s.inputs.map((v) => [v.name, v.dtype, shapeText(v.shape)])));
  lines.push('');
  lines.push(formatTable(['output', 'dtype', 'shape'], s.outputs.map((v) => [v.name, v.dtype, shapeText(v.shape)])));
  lines.push('');
  const bytes = Object.entries(s.initializerBytesByDtype).sort((a, b) => b[1] - a[1]).map(([d, n]) => `${d} ${formatBytes(n)}`);
  const constants = s.constantNodes ? ` and ${s.constantNodes} Constant nodes (${formatBytes(s.constantNodeBytes)})` : '';
  lines.push(`Parameters: ${s.parameters.toLocaleString('en-US')} in ${s.initializers} initializers, ${formatBytes(s.initializerBytes)} (${bytes.join(', ') || 'none'})${constants}`);
  lines.push(`Ops (${s.nodes} nodes): ${Object.entries(s.opHistogram).map(([op, n]) => `${op} ${n}`).join(', ')}`);
  if (Object.keys(s.metadata).length) lines.push(`Metadata: ${Object.entries(s.metadata).map(([k, v]) => `${k}=${v}`).join(', ')}`);
  if (s.functions.length) lines.push(`Functions: ${s.functions.join(', ')}`);
  if (s.quantized.length) {
    lines.push('');
    lines.push(formatTable(['quantized tensor', 'dtype', 'shape', 'scale', 'zero point', 'used by'], s.quantized.map(quantizedRow), { title: `Quantized tensors (${s.quantized.length})` }));
  }
  return lines.join('\n');
}

function quantizedRow(q: QuantizedTensorSummary): Cell[] {
  const range = (v: number | number[] | null, fmt: (x: number) => string) => {
    if (v === null) return 'run time';
    if (!Array.isArray(v)) return fmt(v);
    const lo = Math.min(...v);
    const hi = Math.max(...v);
    return lo === hi ? `${fmt(lo)} x${v.length}` : `${fmt(lo)}..${fmt(hi)} (${v.length}, axis ${q.axis ?? '?'})`;
  };
  const usedBy = [...new Set(q.usedBy)].join(', ');
  if (q.block) {
    // Packed codes: the weight's own shape, and its per-block parameters instead of one scale.
    const b = q.block;
    return [q.name, `${q.dtype} (${b.bits}-bit)`, `[${b.logicalShape.join(', ')}] packed [${q.shape.join(', ')}]`, `per block of ${b.blockSize}`, b.zeroPoints ? 'per block' : 'none (symmetric)', usedBy];
  }
  return [q.name, q.dtype, `[${q.shape.join(', ')}]`, range(q.scale, (x) => x.toPrecision(4)), range(q.zeroPoint, String), usedBy];
}
