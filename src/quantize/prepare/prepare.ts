import { hoistConstants, opsetVersion, type ModelProto } from '../../onnx/index.js';
import { upgradeOpset, type OpsetUpgrade, type UpgradeRefusal } from '../../onnx/upgrade/index.js';
import type { ResolvedQuantizeOptions } from '../options.js';
import type { OrtOptimizeReport } from './ort-optimize.js';

/** What graph preparation did before any rule looked at the model. */
export interface PreparationReport {
  /** Constant nodes moved into initializers (weights exporters keep in Constant nodes). */
  constantsHoisted: number;
  /** The default-domain opset raised for the ops quantization writes, or null when it was new enough. */
  opsetUpgrade: OpsetUpgrade | null;
  /** Why the opset could not be raised (the op that blocks it), when it had to be. */
  opsetRefusal: (UpgradeRefusal & { message: string }) | null;
  /** `--ort-optimize`: what onnxruntime's basic optimizations changed before anything else (set by quantizeFile). */
  ortOptimize?: OrtOptimizeReport;
}

/**
 * The oldest default-domain opset the ops quantization writes need: DynamicQuantizeLinear (11)
 * for dynamic mode, QuantizeLinear/DequantizeLinear (10) for static, and per-axis
 * DequantizeLinear (13) for per-channel weights that are dequantized by a standard op (the qdq
 * format, and Gather tables in every format). `opTypes`: the op types that will be quantized.
 */
export function requiredOpset(options: Pick<ResolvedQuantizeOptions, 'mode' | 'perChannel' | 'format'>, opTypes: readonly string[]): number {
  const perAxis = options.perChannel && (options.format === 'qdq' || options.mode !== 'dynamic' || opTypes.includes('Gather'));
  if (perAxis) return 13;
  return options.mode === 'dynamic' ? 11 : 10;
}

/**
 * Readies a model for the quantization rules: Constant-node weights become initializers, and a
 * model whose opset is older than the ops quantization writes need is converted up (only when
 * it has a node of an op type to quantize). A model that cannot be converted is returned as it
 * is, with the reason; its rules then skip with "opset too old" and the report says which op blocked.
 */
export function prepareForQuantization(model: ModelProto, options: ResolvedQuantizeOptions): { model: ModelProto; report: PreparationReport } {
  const hoisted = hoistConstants(model);
  const report: PreparationReport = { constantsHoisted: hoisted.hoisted, opsetUpgrade: null, opsetRefusal: null };
  let prepared = hoisted.model;
  const opset = opsetVersion(prepared, '') ?? 1;
  const present = new Set((prepared.graph?.node ?? []).filter((n) => !n.domain || n.domain === 'ai.onnx').map((n) => n.opType ?? ''));
  const quantizable = options.opTypes.filter((t) => present.has(t));
  const target = requiredOpset(options, quantizable);
  if (opset < target && quantizable.length) {
    const result = upgradeOpset(prepared, target);
    if ('refusal' in result) {
      const r = result.refusal;
      const where = r.node ? `node ${r.node} (${r.opType}): ` : '';
      report.opsetRefusal = { ...r, message: `cannot convert opset ${r.from} to ${r.to}: ${where}${r.reason}` };
    } else {
      prepared = result.model;
      report.opsetUpgrade = result.upgrade;
    }
  }
  return { model: prepared, report };
}
