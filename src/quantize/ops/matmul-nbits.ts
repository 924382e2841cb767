import { attrFloat, type NodeProto } from '../../onnx/index.js';
import { MS_DOMAIN, type BlockWeightRequest, type PlanContext, type PlanResult, type QuantizeRule, type RewriteContext } from '../rule.js';
import { gemmNeedsTail, gemmTail, gemmWeight } from './gemm.js';
import { biasAdd, matmulWeight } from './matmul.js';

/**
 * `a @ W` with W block-quantized, as com.microsoft.MatMulNBits: B [N, k_blocks, blob] (W
 * transposed, packed along K), scales [N, k_blocks], zero points only when asymmetric, an
 * optional bias [N]. Returns the output name (`output` when given).
 */
function emitMatMulNBits(ctx: RewriteContext, node: NodeProto, a: string, request: BlockWeightRequest, output?: string, bias?: string): string {
  const w = ctx.blockWeight(node, request);
  const block = ctx.options.block!;
  const inputs = [a, w.data, w.scales];
  if (w.zeroPoints || bias) inputs.push(w.zeroPoints ?? '');
  if (bias) inputs.push('', bias); // g_idx (deprecated) stays empty
  return ctx.add('MatMulNBits', inputs, {
    outputs: output ? [output] : undefined,
    domain: MS_DOMAIN,
    attrs: { K: w.length, N: w.rows, bits: w.bits, block_size: w.blockSize, accuracy_level: block.accuracyLevel },
  })[0]!;
}

/** MatMul with a constant 2-D right-hand side [K, N]; a following bias Add [N] becomes the op's bias. */
export const matmulNBitsRule: QuantizeRule = {
  opType: 'MatMul',
  plan(node: NodeProto, ctx: PlanContext): PlanResult {
    const weight = matmulWeight(node, ctx);
    if ('skip' in weight) return weight;
    const absorbs = biasAdd(node, weight.dims[1]!, ctx);
    return { weights: [{ input: 1, channelAxis: 1 }], ...(absorbs ? { absorbs } : {}) };
  },
  rewrite(node, plan, ctx) {
    const output = plan.absorbs ? plan.absorbs.node.output![0]! : node.output![0]!;
    emitMatMulNBits(ctx, node, node.input![0]!, { input: 1, rows: 'columns', padded: true }, output, plan.absorbs?.bias);
  },
};

/**
 * Gemm (Y = alpha * A @ B' + beta * C) with a constant 2-D B: MatMulNBits stores B' row per
 * output (B as it is with transB=1, transposed otherwise); a 1-D C [N] with alpha = beta = 1 is
 * the op's bias, anything else is rebuilt with Mul/Add.
 */
export const gemmNBitsRule: QuantizeRule = {
  opType: 'Gemm',
  plan(node: NodeProto, ctx: PlanContext): PlanResult {
    const found = gemmWeight(node, ctx);
    if ('skip' in found) return found;
    const { weight, transB } = found;
    const c = node.input?.[2];
    const cInfo = c ? ctx.constantInfo(c) : undefined;
    const outputs = weight.dims[transB ? 0 : 1]!;
    const inlineBias = attrFloat(node, 'alpha', 1) === 1 && attrFloat(node, 'beta', 1) === 1 && cInfo?.dims.length === 1 && cInfo.dims[0] === outputs && cInfo.dataType === 1;
    return { weights: [{ input: 1, channelAxis: transB ? 0 : 1 }], inlineBias };
  },
  rewrite(node, plan, ctx) {
    const [a, , c] = node.input ?? [];
    const y = node.output![0]!;
    const request: BlockWeightRequest = { input: 1, rows: plan.weights[0]!.channelAxis === 0 ? 'rows' : 'columns', padded: true };
    const inlined = !!plan.inlineBias;
    const needsTail = gemmNeedsTail(node, inlined);
    const out = emitMatMulNBits(ctx, node, a!, request, needsTail ? undefined : y, inlined ? c : undefined);
    if (needsTail) gemmTail(ctx, node, out, y, inlined);
  },
};
