import { UserError } from '../errors.js';
import type { ModelProto } from '../onnx/index.js';
import { quantizeModel } from './driver.js';
import { convertToFloat16, type Fp16Report, type Fp16Target } from './fp16/convert.js';
import type { QuantizeReport } from './report.js';

/**
 * transformers.js's dtypes and the file each one loads from `onnx/` (its
 * DEFAULT_DTYPE_SUFFIX_MAPPING). bnb4 is refused: MatMulBnb4's NF4/FP4 codebooks are not built here.
 */
export const transformersDtypes = ['fp32', 'fp16', 'q8', 'int8', 'uint8', 'q4', 'q4f16'] as const;
export type TransformersDtype = (typeof transformersDtypes)[number];

const suffixes: Record<TransformersDtype, string> = { fp32: '', fp16: '_fp16', q8: '_quantized', int8: '_int8', uint8: '_uint8', q4: '_q4', q4f16: '_q4f16' };

export function transformersFileName(dtype: TransformersDtype): string {
  return `model${suffixes[dtype]}.onnx`;
}

export function parseTransformersDtypes(list: readonly string[]): TransformersDtype[] {
  if (list.length === 0) throw new UserError(`--dtype is empty (expected some of ${transformersDtypes.join(', ')})`);
  const out: TransformersDtype[] = [];
  for (const d of list) {
    if (d === 'bnb4') throw new UserError('--dtype bnb4 is not supported: it needs com.microsoft.MatMulBnb4 with NF4 codebooks, which this tool does not write; use q4 (MatMulNBits) instead');
    if (!(transformersDtypes as readonly string[]).includes(d)) throw new UserError(`--dtype ${d}: unknown (expected ${transformersDtypes.join(', ')})`);
    if (!out.includes(d as TransformersDtype)) out.push(d as TransformersDtype);
  }
  return out;
}

export interface VariantOptions {
  /** q4/q4f16 block size and accuracy level (defaults as for --bits). */
  blockSize?: number;
  accuracyLevel?: number;
  fp16Target?: Fp16Target;
  fp16Keep?: readonly string[];
  /** fp16/q4f16: float graph inputs and outputs in float16 too. */
  fp16Io?: boolean;
  /** Where external-data weights of the input live (models from loadModelLazy). */
  baseDir?: string;
  label?: string;
}

export interface Variant {
  dtype: TransformersDtype;
  model: ModelProto;
  /** How it was made, in words (the table's last column). */
  recipe: string;
  quantize?: QuantizeReport;
  fp16?: Fp16Report;
}

/**
 * One transformers.js variant of a float32 model. q8 follows transformers.js's own converter:
 * uint8 weights when the graph has a Conv (int8 x uint8 Conv kernels are missing on CPUs),
 * int8 otherwise.
 */
export function makeVariant(model: ModelProto, dtype: TransformersDtype, options: VariantOptions = {}): Variant {
  const source = { baseDir: options.baseDir, label: options.label };
  const fp16 = (m: ModelProto) => convertToFloat16(m, { target: options.fp16Target, keepFloat32: options.fp16Keep, halfIo: options.fp16Io });
  const block = { bits: 4, blockSize: options.blockSize, accuracyLevel: options.accuracyLevel };
  switch (dtype) {
    case 'fp32':
      return { dtype, model, recipe: 'the input model' };
    case 'fp16': {
      const r = fp16(model);
      return { dtype, model: r.model, fp16: r.report, recipe: fp16Recipe(r.report) };
    }
    case 'q8':
    case 'int8':
    case 'uint8': {
      const hasConv = (model.graph?.node ?? []).some((n) => n.opType === 'Conv');
      const weightType = dtype === 'q8' ? (hasConv ? 'uint8' : 'int8') : dtype;
      const q = quantizeModel(model, { weightType }, source);
      return { dtype, model: q.model, quantize: q.report, recipe: `dynamic ${weightType}${dtype === 'q8' ? (hasConv ? ' (graph has Conv)' : ' (no Conv)') : ''}` };
    }
    case 'q4':
    case 'q4f16': {
      const q = quantizeModel(model, block, source);
      const b = q.report.options.block!;
      const recipe = `4-bit blocks of ${b.blockSize}, accuracy_level ${b.accuracyLevel}`;
      if (dtype === 'q4') return { dtype, model: q.model, quantize: q.report, recipe };
      const r = fp16(q.model);
      return { dtype, model: r.model, quantize: q.report, fp16: r.report, recipe: `${recipe}, ${fp16Recipe(r.report)}` };
    }
  }
}

function fp16Recipe(r: Fp16Report): string {
  return `float16 (target ${r.target}: ${r.halfNodes} nodes compute in float16, ${r.casts.activations} activation Casts)`;
}
