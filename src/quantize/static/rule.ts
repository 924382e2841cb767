import type { NodeProto } from '../../onnx/index.js';
import type { ConstantWeight } from '../rule.js';
import type { ResolvedStaticOptions } from './options.js';

/** A constant input stored int8 and read through DequantizeLinear. */
export interface QdqWeight {
  input: number;
  /** Per-channel axis in the weight's layout (used with --per-channel); undefined: always per tensor. */
  channelAxis: number | undefined;
}

/**
 * How a node is quantized statically (QDQ). The driver puts QuantizeLinear -> DequantizeLinear
 * on each activation input (ranges from calibration), stores each weight int8 behind a
 * DequantizeLinear, and the bias int32 with scale = activation scale * weight scale.
 */
export interface QdqPlan {
  /** Inputs quantized as activations (float values computed at run time). */
  activations: number[];
  weights: QdqWeight[];
  /** Bias input stored int32 (zero point 0), scale from the activation and weight inputs named. */
  bias?: { input: number; activation: number; weight: number };
  /**
   * `shared`: the output reuses the first input's scale and zero point (pooling, reshape-like,
   * Resize), so the op adds no quantization point. `own`: the output, when quantized, gets its
   * own calibrated range.
   */
  output: 'own' | 'shared';
  /**
   * Pass-through ops are planned only when their input already comes out of a quantized node
   * (`first`: input 0; `any`: any input, for Concat), so they never start a quantized region.
   */
  when?: 'first' | 'any';
  /** Gather on a constant table: gather int8 rows, then DequantizeLinear (never the whole table). */
  gatherRows?: boolean;
}

export type QdqPlanResult = QdqPlan | { skip: string };

export interface StaticPlanContext {
  readonly options: ResolvedStaticOptions;
  readonly opset: number;
  /** A float32 constant usable as a quantized weight, or why not. */
  constantWeight(name: string): ConstantWeight | { skip: string };
  /** Dims and element type of a constant (initializer or Constant node), else undefined. */
  constantInfo(name: string): { dims: number[]; dataType: number } | undefined;
  /** Float values of a small constant (Clip bounds, scalars), else undefined. */
  constantValues(name: string): Float32Array | undefined;
}

/** Quantized names of a value: the int8/uint8 tensor with its scale and zero point. */
export interface QNames {
  data: string;
  scale: string;
  zeroPoint: string;
}

/** What a QOperator rewrite sees: the quantized form of each input (undefined: stays float), the int32 bias, the quantized output. */
export interface QOperatorIo {
  inputs: Array<QNames | undefined>;
  bias?: string;
  output: QNames;
  /** The output's zero point type (uint8 or int8 activations). */
  activationType: 'uint8' | 'int8';
}

/**
 * One op type's static quantization. `qoperator` (optional) writes the single integer node that
 * replaces DequantizeLinear inputs -> op -> QuantizeLinear output (QLinearConv, ...); without
 * it, or when it returns undefined, the node stays in QDQ form under --format qoperator too.
 */
export interface StaticQuantizeRule {
  readonly opType: string;
  /** Default: the ONNX domain. */
  readonly domain?: string;
  plan(node: NodeProto, ctx: StaticPlanContext): QdqPlanResult;
  qoperator?(node: NodeProto, io: QOperatorIo, ctx: StaticPlanContext): NodeProto | undefined;
}
