import type { AttributeProto, AttributeValue, NodeProto, TensorProto } from '../onnx/index.js';
import type { ResolvedQuantizeOptions } from './options.js';

/** A constant input of a node that a rule wants stored quantized. */
export interface WeightRequest {
  /** Index of the node input holding the weight. */
  input: number;
  /** Per-channel axis in the weight's own layout (used with --per-channel). */
  channelAxis: number;
  /** Store the 2-D weight transposed (a Gemm weight with transB=1 becomes [in, out] for MatMulInteger). */
  transpose?: boolean;
}

export interface RulePlan {
  weights: WeightRequest[];
  /** Gemm: C is a constant 1-D bias the com.microsoft ops can take as their bias input. */
  inlineBias?: boolean;
  /** Said in the report next to the quantized node (a fallback and its reason). */
  note?: string;
  /**
   * A node the rewrite replaces too (the bias Add after a MatMul, folded into the com.microsoft
   * op's bias input): the driver drops it, the rewrite writes its output.
   */
  absorbs?: { node: NodeProto; bias: string };
}

export type PlanResult = RulePlan | { skip: string };

export interface ConstantWeight {
  tensor: TensorProto;
  dims: number[];
}

/** What a rule may read while deciding; nothing here changes the graph. */
export interface PlanContext {
  readonly options: ResolvedQuantizeOptions;
  /** Version of the default ONNX opset the model imports. */
  readonly opset: number;
  /** A float32 constant usable as a quantized weight, or why `name` is not one (graph input, computed, fp16, too small). */
  constantWeight(name: string): ConstantWeight | { skip: string };
  /** Dims and element type of a constant (initializer or Constant node) no graph input overrides, else undefined. */
  constantInfo(name: string): { dims: number[]; dataType: number } | undefined;
  /** The only node reading `value`, when exactly one node (and no graph output) reads it. */
  soleReader(value: string): NodeProto | undefined;
}

/** Names of a quantized weight's initializers. */
export interface QuantizedWeightNames {
  data: string;
  scale: string;
  zeroPoint: string;
  /** Channel axis of the stored (possibly transposed) tensor, undefined per tensor. */
  axis: number | undefined;
}

/** A constant 2-D input stored block-quantized (MatMulNBits, GatherBlockQuantized). */
export interface BlockWeightRequest {
  input: number;
  /**
   * Which way the stored rows run: 'columns' stores the weight transposed (MatMul's [K, N]
   * becomes N rows of K), 'rows' as it is (Gemm transB=1's [N, K], an embedding table).
   */
  rows: 'columns' | 'rows';
  /** Rows padded to whole blocks (MatMulNBits) or packed as long as they are (GatherBlockQuantized). */
  padded: boolean;
}

/** Names and geometry of a block-quantized weight's initializers. */
export interface BlockWeightNames {
  data: string;
  scales: string;
  /** Asymmetric only; symmetric codes use the ops' default zero point 2^(bits-1). */
  zeroPoints: string | undefined;
  rows: number;
  /** Values per stored row (K). */
  length: number;
  bits: 4 | 8;
  blockSize: number;
}

/** Outputs of the DynamicQuantizeLinear that quantizes an activation at run time. */
export interface QuantizedActivationNames {
  data: string;
  scale: string;
  zeroPoint: string;
}

export interface AddNodeOptions {
  /** Output names; default one fresh name. */
  outputs?: string[];
  attrs?: Record<string, AttributeValue | undefined>;
  /** Attributes copied as they are (e.g. from the node being replaced). */
  attributes?: AttributeProto[];
  domain?: string;
}

/** What a rule uses to write the nodes that replace the one it quantizes. */
export interface RewriteContext {
  readonly options: ResolvedQuantizeOptions;
  /** The weight behind `node.input[request.input]`, quantized once and shared by every node asking the same. */
  weight(node: NodeProto, request: WeightRequest): QuantizedWeightNames;
  /** The weight behind `node.input[request.input]`, block-quantized (options.block) once and shared. */
  blockWeight(node: NodeProto, request: BlockWeightRequest): BlockWeightNames;
  /** `name` quantized to uint8 at run time (one DynamicQuantizeLinear per value, shared). */
  activation(name: string): QuantizedActivationNames;
  /** A float32 initializer (scalars for alpha/beta and the like). */
  constant(base: string, values: Float32Array, dims: number[]): string;
  /** Appends a replacement node; returns its output names. */
  add(opType: string, inputs: string[], opts?: AddNodeOptions): string[];
}

/**
 * How one op type is quantized. `plan` decides (and says why not); `rewrite` emits the nodes
 * that replace the node, writing the node's original outputs under their original names.
 */
export interface QuantizeRule {
  readonly opType: string;
  plan(node: NodeProto, ctx: PlanContext): PlanResult;
  rewrite(node: NodeProto, plan: RulePlan, ctx: RewriteContext): void;
}

export const MS_DOMAIN = 'com.microsoft';
