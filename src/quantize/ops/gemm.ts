import { attrFloat, attrInt, type NodeProto } from '../../onnx/index.js';
import type { ConstantWeight, PlanContext, PlanResult, QuantizeRule, RewriteContext } from '../rule.js';
import { emitQuantizedMatMul, matmulOpsetProblem } from './matmul.js';

/** Gemm's constant 2-D B and its transB, or why the Gemm stays float (shared with the block rule). */
export function gemmWeight(node: NodeProto, ctx: PlanContext): { weight: ConstantWeight; transB: boolean } | { skip: string } {
  const b = node.input?.[1];
  if (!b) return { skip: 'Gemm without a B input' };
  if (attrInt(node, 'transA', 0) !== 0) return { skip: 'transA=1 is not supported (the activation would need a Transpose)' };
  const weight = ctx.constantWeight(b);
  if ('skip' in weight) return { skip: weight.skip };
  if (weight.dims.length !== 2) return { skip: `weight ${b} is ${weight.dims.length}-D; Gemm needs 2-D` };
  return { weight, transB: attrInt(node, 'transB', 0) !== 0 };
}

/**
 * Rebuilds what the quantized product `out` (A @ B') leaves out of Gemm: alpha with a Mul, then
 * beta * C with an Add unless C went in as the op's bias. The last op writes `y`.
 */
export function gemmTail(ctx: RewriteContext, node: NodeProto, out: string, y: string, inlinedBias: boolean): void {
  const c = node.input?.[2];
  const alpha = attrFloat(node, 'alpha', 1);
  const beta = attrFloat(node, 'beta', 1);
  const addsC = c !== undefined && c !== '' && !inlinedBias;
  if (alpha !== 1) out = ctx.add('Mul', [out, ctx.constant('alpha', Float32Array.of(alpha), [])], { outputs: addsC ? undefined : [y] })[0]!;
  if (addsC) {
    const scaledC = beta === 1 ? c : ctx.add('Mul', [c, ctx.constant('beta', Float32Array.of(beta), [])])[0]!;
    ctx.add('Add', [out, scaledC], { outputs: [y] });
  }
}

/** True when the product must go through gemmTail (it cannot write `y` itself). */
export function gemmNeedsTail(node: NodeProto, inlinedBias: boolean): boolean {
  const c = node.input?.[2];
  return (!!c && !inlinedBias) || attrFloat(node, 'alpha', 1) !== 1;
}

/**
 * Gemm (Y = alpha * A @ B' + beta * C) with a constant 2-D B. Per channel along the output
 * axis: axis 0 of B when transB=1 (nn.Linear's [out, in]), else axis 1. The integer formats
 * store B as [in, out] (transposed when transB=1) and rebuild alpha/beta/C with Mul/Add; the
 * qdq format keeps the Gemm and feeds it dequantized inputs.
 */
export const gemmRule: QuantizeRule = {
  opType: 'Gemm',
  plan(node: NodeProto, ctx: PlanContext): PlanResult {
    const found = gemmWeight(node, ctx);
    if ('skip' in found) return found;
    const { weight, transB } = found;
    const opsetProblem = matmulOpsetProblem(ctx);
    if (opsetProblem) return { skip: opsetProblem };
    const keepsGemm = ctx.options.format === 'qdq';
    const c = node.input?.[2];
    const cDims = c ? ctx.constantInfo(c)?.dims : undefined;
    const outputs = weight.dims[transB ? 0 : 1]!;
    // The com.microsoft ops add a 1-D [N] bias themselves; anything else (a [M, N] C, alpha, beta) goes through Mul/Add.
    const inlineBias =
      ctx.options.format === 'ms' && attrFloat(node, 'alpha', 1) === 1 && attrFloat(node, 'beta', 1) === 1 && cDims?.length === 1 && cDims[0] === outputs;
    return { weights: [{ input: 1, channelAxis: transB ? 0 : 1, transpose: transB && !keepsGemm }], inlineBias };
  },
  rewrite(node, plan, ctx) {
    const [a, , c] = node.input ?? [];
    const y = node.output![0]!;
    const request = plan.weights[0]!;
    if (ctx.options.format === 'qdq') {
      const act = ctx.activation(a!);
      const aDeq = ctx.add('DequantizeLinear', [act.data, act.scale, act.zeroPoint])[0]!;
      const w = ctx.weight(node, request);
      const wDeq = ctx.add('DequantizeLinear', [w.data, w.scale, w.zeroPoint], { attrs: { axis: w.axis } })[0]!;
      ctx.add('Gemm', [aDeq, wDeq, ...(c ? [c] : [])], { outputs: [y], attributes: node.attribute ?? [] });
      return;
    }
    const inlined = !!plan.inlineBias;
    const needsTail = gemmNeedsTail(node, inlined);
    const out = emitQuantizedMatMul(ctx, node, a!, request, needsTail ? undefined : y, inlined ? c : undefined);
    if (needsTail) gemmTail(ctx, node, out, y, inlined);
  },
};
