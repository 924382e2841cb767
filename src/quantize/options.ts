import { UserError } from '../errors.js';
import type { QuantType } from './qparams.js';
import type { StaticQuantizeOptions } from './static/options.js';
import { resolveBlockOptions, type BlockOptions } from './block-options.js';

/** dynamic: int8 weights, activations quantized at run time; static: activations too, with ranges from calibration data (static/). */
export type QuantizeMode = 'dynamic' | 'static';
/**
 * How a quantized MatMul/Gemm is written:
 * - `ms`: DynamicQuantizeLinear + com.microsoft MatMulIntegerToFloat (what onnxruntime's CPU
 *   provider runs fastest here; see docs/quantize-formats.md). onnxruntime only.
 * - `qoperator`: DynamicQuantizeLinear + MatMulInteger + Cast + Mul, standard ONNX ops.
 * - `qdq`: DynamicQuantizeLinear + DequantizeLinear on the activation, DequantizeLinear on the
 *   int8 weight, then the original float op; standard ops, for runtimes that fuse QDQ.
 * Embeddings are Gather + DequantizeLinear in every format.
 */
export type QuantFormat = 'ms' | 'qoperator' | 'qdq';
export const quantFormats: readonly QuantFormat[] = ['ms', 'qoperator', 'qdq'];
export const defaultOpTypes = ['MatMul', 'Gemm', 'Gather'];

export interface QuantizeOptions {
  /** 'dynamic' (default) or 'static' (needs `calibration.data`). */
  mode?: string;
  /** Static mode: calibration data, method and activation type (static/options.ts). */
  calibration?: StaticQuantizeOptions;
  format?: string;
  weightType?: string;
  /** Default: true for int8 weights, false for uint8 (onnxruntime's defaults). */
  symmetric?: boolean;
  perChannel?: boolean;
  reduceRange?: boolean;
  /**
   * 4 or 8: weight-only block quantization (MatMul/Gemm -> com.microsoft.MatMulNBits, embedding
   * tables -> GatherBlockQuantized). Unset: dynamic int8 as described above.
   */
  bits?: number;
  /** Block quantization: values per block along K, a power of two >= 16 (default 32). */
  blockSize?: number;
  /** Block quantization: MatMulNBits' accuracy_level, 0, 1 or 4 (default defaultAccuracyLevel). */
  accuracyLevel?: number;
  /** Op types to quantize (default MatMul, Gemm, Gather). */
  opTypes?: string[];
  /** Node names to leave in float. Each must exist in the graph. */
  excludeNodes?: string[];
  /** When given, only these nodes are quantized. Each must exist in the graph. */
  includeNodes?: string[];
  /** Weights with fewer elements stay float (nothing to gain, some accuracy to lose). Default 1024. */
  minElements?: number;
  /**
   * Which com.microsoft op the `ms` format emits: DynamicQuantizeLinear + MatMulIntegerToFloat
   * (default; one activation quantization shared by the MatMuls reading it) or
   * DynamicQuantizeMatMul (quantizes its input itself). Kept for the format benchmark.
   */
  msOp?: 'MatMulIntegerToFloat' | 'DynamicQuantizeMatMul';
  /**
   * MiB of activations one onnxruntime run may hold while calibrating (static) or measuring node
   * errors (accuracy guard, node report), default 1024: more, and they are split into groups run
   * separately (see calibrate/memory-plan.ts).
   */
  activationMemoryMiB?: number;
}

export interface ResolvedQuantizeOptions {
  mode: QuantizeMode;
  format: QuantFormat;
  weightType: QuantType;
  symmetric: boolean;
  perChannel: boolean;
  reduceRange: boolean;
  /** 8 for dynamic int8; the block bits with `block`. */
  bits: number;
  /** Set by --bits: weight-only block quantization. */
  block: BlockOptions | undefined;
  opTypes: string[];
  excludeNodes: string[];
  includeNodes: string[] | undefined;
  minElements: number;
  msOp: 'MatMulIntegerToFloat' | 'DynamicQuantizeMatMul';
  /** Bytes of activations one onnxruntime run may hold (calibration, node errors). */
  activationMemoryBytes: number;
}

/** Checks and completes options; a bad value is a UserError that says what is accepted. */
export function resolveQuantizeOptions(o: QuantizeOptions, supportedOpTypes: readonly string[]): ResolvedQuantizeOptions {
  const mode = o.mode ?? 'dynamic';
  if (mode !== 'dynamic' && mode !== 'static') throw new UserError(`--mode ${mode}: unknown mode (expected dynamic or static)`);
  const format = o.format ?? (mode === 'static' ? 'qdq' : 'ms');
  if (!quantFormats.includes(format as QuantFormat)) throw new UserError(`--format ${format}: unknown format (expected ${quantFormats.join(', ')})`);
  if (mode === 'static' && format === 'ms') throw new UserError('--format ms is dynamic only; --mode static writes qdq (default) or qoperator');
  const weightType = o.weightType ?? 'int8';
  if (weightType !== 'int8' && weightType !== 'uint8') throw new UserError(`--weight-type ${weightType}: unknown type (expected int8 or uint8)`);
  const block = resolveBlockOptions(o);
  const opTypes = o.opTypes ?? defaultOpTypes;
  if (opTypes.length === 0) throw new UserError('--op-types is empty (supported: ' + supportedOpTypes.join(', ') + ')');
  for (const t of opTypes) {
    if (!supportedOpTypes.includes(t)) {
      throw new UserError(`--op-types ${t}: no quantization rule for this op type (supported: ${supportedOpTypes.join(', ')})`);
    }
  }
  const minElements = o.minElements ?? 1024;
  if (!Number.isInteger(minElements) || minElements < 0) throw new UserError(`--min-elements ${minElements}: expected a non-negative integer`);
  const msOp = o.msOp ?? 'MatMulIntegerToFloat';
  if (msOp !== 'MatMulIntegerToFloat' && msOp !== 'DynamicQuantizeMatMul') throw new UserError(`unknown ms op ${msOp}`);
  const memoryMiB = o.activationMemoryMiB ?? 1024;
  if (!(Number.isFinite(memoryMiB) && memoryMiB > 0)) throw new UserError(`--activation-memory ${memoryMiB}: expected a positive number of MiB`);
  return {
    mode,
    format: format as QuantFormat,
    weightType,
    symmetric: o.symmetric ?? (block ? true : weightType === 'int8'),
    perChannel: o.perChannel ?? false,
    reduceRange: o.reduceRange ?? false,
    bits: block?.bits ?? 8,
    block,
    opTypes: [...new Set(opTypes)],
    excludeNodes: o.excludeNodes ?? [],
    includeNodes: o.includeNodes,
    minElements,
    msOp,
    activationMemoryBytes: Math.round(memoryMiB * 2 ** 20),
  };
}
