import type { ResolvedQuantizeOptions } from './options.js';
import type { PreparationReport } from './prepare/prepare.js';

/** One weight stored quantized. */
export interface QuantizedTensorReport {
  /** The float tensor's name. */
  name: string;
  /** The int8/uint8 initializer that replaces it. */
  quantizedName: string;
  /** Nodes reading it (by name, or op type and index when unnamed). */
  nodes: string[];
  opType: string;
  /** Shape of the float tensor (the quantized one has the same, transposed for Gemm transB=1 in integer formats). */
  shape: number[];
  /** int4/uint4: block-quantized 4-bit codes (int: symmetric, uint: with zero points). */
  dtype: 'int8' | 'uint8' | 'int4' | 'uint4';
  /** Per-channel axis in the float tensor's layout; null per tensor. */
  axis: number | null;
  /** Per tensor: one number; per channel: one per channel. */
  scale: number | number[];
  zeroPoint: number | number[] | null;
  /** Block quantization (--bits): bits, block size, block count, smallest and largest |scale|; scale/zeroPoint then hold the largest |scale| and the zero point shared by all blocks (null when each block has its own). */
  block?: { bits: number; size: number; count: number; scaleMin: number; scaleMax: number };
  maxAbsError: number;
  /** 10 log10(sum w^2 / sum (w - dequant(w))^2); null when the error is zero (exact). */
  sqnrDb: number | null;
  bytesBefore: number;
  bytesAfter: number;
}

export type NodeDecision =
  | { node: string; opType: string; status: 'quantized'; tensors: string[]; /** Why it was quantized another way than asked (e.g. int8 instead of 4-bit blocks). */ note?: string }
  | { node: string; opType: string; status: 'skipped'; reason: string };

/** One calibrated activation (static mode): what was seen and the range quantized over. */
export interface ActivationRangeReport {
  name: string;
  min: number;
  max: number;
  rmin: number;
  rmax: number;
  scale: number;
  zeroPoint: number;
  /** Inferred by the probe runs: fixed dims as numbers, the rest named by the input dim they follow (`batch`, `sequence*batch`, `?`). */
  shape?: Array<number | string>;
}

/** How calibration kept the activations of one run under its memory budget. */
export interface CalibrationMemoryReport {
  budgetBytes: number;
  /** 'probed': activation shapes inferred by two probe runs; otherwise why they are unknown (then one pass). */
  shapes: 'probed' | string;
  /** The largest size each input dim took in the calibration data (what the plan is for). */
  sizes: Record<string, number>;
  /** Passes over the data: one per group of activations. */
  passes: number;
  /** Bytes of all calibrated activations of one run at those sizes, fetched together. */
  activationBytes: number;
  /** The largest group's bytes: what one run holds (onnxruntime's buffers; the JS copies again). */
  bytesPerRun: number;
  /** Activations over the budget on their own (a pass each). */
  oversized: string[];
}

export interface CalibrationReport {
  method: string;
  rows: number;
  batches: number;
  activationType: string;
  foldedBatchNorms: number;
  /** Nodes written as integer ops (QLinearConv, ...) under --format qoperator. */
  qoperatorNodes: number;
  memory: CalibrationMemoryReport;
  activations: ActivationRangeReport[];
}

export interface QuantizeReport {
  options: ResolvedQuantizeOptions;
  /** Every node of a selected op type, in graph order, with what happened to it. */
  decisions: NodeDecision[];
  tensors: QuantizedTensorReport[];
  /** Bytes of tensor data in initializers and Constant nodes, before and after. */
  initializerBytes: { before: number; after: number };
  /** Constant nodes hoisted and the opset conversion done (or refused) before quantizing. */
  preparation: PreparationReport;
  /** Static mode: the calibration run and each activation's range. */
  calibration?: CalibrationReport;
  /** Set by quantizeFile: bytes on disk (model file plus external data). */
  /** Sizes, and the config/tokenizer files copied next to the output. */
  files?: { input: string; output: string; bytesBefore: number; bytesAfter: number; ratio: number; companions: string[] };
  /**
   * Set by quantizeFile: wall milliseconds of each step. load: the model's structure (weights stay
   * on disk); quantize: reading the weights, their ranges, the rewritten graph (small weights
   * quantized here); write: the temporary file, large weights quantized into it as it is written,
   * the rest of its fsync (which runs during the check) and the rename; check: onnxruntime loading
   * it before the rename.
   */
  timings?: { loadMs: number; quantizeMs: number; writeMs: number; checkMs: number; totalMs: number };
}

export function skippedDecisions(report: QuantizeReport): Extract<NodeDecision, { status: 'skipped' }>[] {
  return report.decisions.filter((d): d is Extract<NodeDecision, { status: 'skipped' }> => d.status === 'skipped');
}

/** Skip reasons with counts, most frequent first (for one-line summaries). */
export function skipReasonCounts(report: QuantizeReport): Array<{ reason: string; count: number }> {
  const counts = new Map<string, number>();
  for (const d of skippedDecisions(report)) {
    // Collapse the tensor-specific part so 12 "not a constant" skips read as one line.
    const key = d.reason.replace(/^(weight|table) \S+ /, '$1 ');
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts.entries()].map(([reason, count]) => ({ reason, count })).sort((a, b) => b.count - a.count);
}
