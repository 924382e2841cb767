import { DataType, type NodeProto } from '../../onnx/index.js';
import { MS_DOMAIN, type ConstantWeight, type PlanContext, type PlanResult, type QuantizeRule, type RewriteContext, type RulePlan, type WeightRequest } from '../rule.js';

/** Lowest default-domain opset for DynamicQuantizeLinear (11) and per-axis DequantizeLinear (13). */
export function matmulOpsetProblem(ctx: PlanContext): string | undefined {
  if (ctx.opset < 11) return `model imports opset ${ctx.opset}; dynamic quantization needs DynamicQuantizeLinear (opset >= 11)`;
  if (ctx.options.perChannel && ctx.options.format === 'qdq' && ctx.opset < 13) {
    return `model imports opset ${ctx.opset}; per-channel DequantizeLinear needs opset >= 13`;
  }
  return undefined;
}

/**
 * Emits `a @ W` for a quantized constant W ([K, N] as stored) in the configured format and
 * returns the output name (`output` when given). Shared by the MatMul and Gemm rules.
 */
export function emitQuantizedMatMul(
  ctx: RewriteContext,
  node: NodeProto,
  a: string,
  request: WeightRequest,
  output?: string,
  bias?: string,
): string {
  const outputs = output ? [output] : undefined;
  const { format, msOp } = ctx.options;
  const w = ctx.weight(node, request);
  if (format === 'ms' && msOp === 'DynamicQuantizeMatMul') {
    return ctx.add('DynamicQuantizeMatMul', [a, w.data, w.scale, w.zeroPoint, ...(bias ? [bias] : [])], { outputs, domain: MS_DOMAIN })[0]!;
  }
  const act = ctx.activation(a);
  if (format === 'ms') {
    const inputs = [act.data, w.data, act.scale, w.scale, act.zeroPoint, w.zeroPoint, ...(bias ? [bias] : [])];
    return ctx.add('MatMulIntegerToFloat', inputs, { outputs, domain: MS_DOMAIN })[0]!;
  }
  let y: string;
  if (format === 'qoperator') {
    // onnxruntime's own IntegerOps layout: int32 product, cast, times a_scale * b_scale.
    const product = ctx.add('MatMulInteger', [act.data, w.data, act.zeroPoint, w.zeroPoint])[0]!;
    const asFloat = ctx.add('Cast', [product], { attrs: { to: DataType.FLOAT } })[0]!;
    const scale = ctx.add('Mul', [act.scale, w.scale])[0]!;
    y = ctx.add('Mul', [asFloat, scale], { outputs: bias ? undefined : outputs })[0]!;
  } else {
    const aDeq = ctx.add('DequantizeLinear', [act.data, act.scale, act.zeroPoint])[0]!;
    const wDeq = ctx.add('DequantizeLinear', [w.data, w.scale, w.zeroPoint], { attrs: { axis: w.axis } })[0]!;
    y = ctx.add('MatMul', [aDeq, wDeq], { outputs: bias ? undefined : outputs })[0]!;
  }
  return bias ? ctx.add('Add', [y, bias], { outputs })[0]! : y;
}

/** MatMul's constant 2-D right-hand side, or why the MatMul stays float (shared with the block rule). */
export function matmulWeight(node: NodeProto, ctx: PlanContext): ConstantWeight | { skip: string } {
  const [a, b] = node.input ?? [];
  if (!a || !b) return { skip: 'MatMul without two inputs' };
  // MatMuls between activations (attention scores) are the common case of a skip here; its reason says so plainly.
  const weight = ctx.constantWeight(b);
  if ('skip' in weight) return { skip: weight.skip };
  if (weight.dims.length !== 2) return { skip: `weight ${b} is ${weight.dims.length}-D; only 2-D weights are quantized` };
  return weight;
}

/** MatMul with a constant 2-D right-hand side ([in, out], per channel along out). */
export const matmulRule: QuantizeRule = {
  opType: 'MatMul',
  plan(node: NodeProto, ctx: PlanContext): PlanResult {
    const weight = matmulWeight(node, ctx);
    if ('skip' in weight) return weight;
    const opsetProblem = matmulOpsetProblem(ctx);
    if (opsetProblem) return { skip: opsetProblem };
    const plan: RulePlan = { weights: [{ input: 1, channelAxis: 1 }] };
    const absorbs = ctx.options.format === 'ms' ? biasAdd(node, weight.dims[1]!, ctx) : undefined;
    return absorbs ? { ...plan, absorbs } : plan;
  },
  rewrite(node, plan, ctx) {
    const output = plan.absorbs ? plan.absorbs.node.output![0]! : node.output![0]!;
    emitQuantizedMatMul(ctx, node, node.input![0]!, plan.weights[0]!, output, plan.absorbs?.bias);
  },
};

/**
 * The `Add(x @ W, b)` after a MatMul, with b a constant float [N]: the com.microsoft ops take b as
 * their bias input. onnxruntime folds that Add itself when it fuses the qoperator pattern, but
 * not into ops written directly, so the ms format folds it here (measured 5-8% faster).
 */
export function biasAdd(node: NodeProto, columns: number, ctx: PlanContext): RulePlan['absorbs'] {
  const add = ctx.soleReader(node.output![0]!);
  if (!add || add.opType !== 'Add' || (add.domain && add.domain !== 'ai.onnx') || add.input?.length !== 2) return undefined;
  const bias = add.input.find((i) => i !== node.output![0]);
  if (!bias || add.input[0] === add.input[1]) return undefined;
  const info = ctx.constantInfo(bias);
  if (!info || info.dataType !== DataType.FLOAT || info.dims.length !== 1 || info.dims[0] !== columns) return undefined;
  return { node: add, bias };
}
