import { attrInt, getAttribute, type NodeProto } from '../../onnx/index.js';
import type { QdqPlanResult, StaticPlanContext, StaticQuantizeRule } from '../static/rule.js';
import { gatherTable } from './gather.js';

/**
 * MatMul, static: a constant 2-D right-hand side is an int8 weight (per channel along its
 * output axis 1); a computed one (attention's Q.K^T, P.V) is a second activation.
 * QLinearMatMul under --format qoperator.
 */
export const matmulStaticRule: StaticQuantizeRule = {
  opType: 'MatMul',
  plan(node: NodeProto, ctx: StaticPlanContext): QdqPlanResult {
    const [a, b] = node.input ?? [];
    if (!a || !b) return { skip: 'MatMul without two inputs' };
    if (ctx.constantInfo(a)) return { skip: `left input ${a} is a constant` };
    const info = ctx.constantInfo(b);
    if (!info) return { activations: [0, 1], weights: [], output: 'own' };
    const weight = ctx.constantWeight(b);
    if ('skip' in weight) return { skip: weight.skip };
    if (weight.dims.length !== 2) return { skip: `weight ${b} is ${weight.dims.length}-D; only 2-D weights are quantized` };
    return { activations: [0], weights: [{ input: 1, channelAxis: 1 }], output: 'own' };
  },
  qoperator(node, io) {
    const [a, b] = io.inputs;
    if (!a || !b) return undefined;
    return { opType: 'QLinearMatMul', input: [a.data, a.scale, a.zeroPoint, b.data, b.scale, b.zeroPoint, io.output.scale, io.output.zeroPoint], output: [io.output.data] };
  },
};

/** Gemm, static: constant 2-D B per channel along its output axis (0 with transB=1), a 1-D C as int32 bias. Stays QDQ under qoperator. */
export const gemmStaticRule: StaticQuantizeRule = {
  opType: 'Gemm',
  plan(node, ctx) {
    const [a, b, c] = node.input ?? [];
    if (!a || !b) return { skip: 'Gemm without A and B' };
    const weight = ctx.constantWeight(b);
    if ('skip' in weight) return { skip: weight.skip };
    if (weight.dims.length !== 2) return { skip: `weight ${b} is ${weight.dims.length}-D; Gemm needs 2-D` };
    const transB = attrInt(node, 'transB', 0) !== 0;
    const n = weight.dims[transB ? 0 : 1]!;
    const info = c ? ctx.constantInfo(c) : undefined;
    const bias = info && info.dims.length === 1 && info.dims[0] === n && !getAttribute(node, 'beta') ? { input: 2, activation: 0, weight: 1 } : undefined;
    return { activations: [0], weights: [{ input: 1, channelAxis: transB ? 0 : 1 }], bias, output: 'own' };
  },
};

/** Gather on a constant table (embeddings): int8 rows gathered, then dequantized, as in dynamic mode. */
export const gatherStaticRule: StaticQuantizeRule = {
  opType: 'Gather',
  plan(node, ctx) {
    const weight = gatherTable(node, ctx);
    if ('skip' in weight) return { skip: weight.skip };
    const rank = weight.dims.length;
    if (rank === 0) return { skip: `table ${node.input![0]} is a scalar` };
    const axis = attrInt(node, 'axis', 0);
    const perColumn = rank >= 2 && axis !== rank - 1 && axis !== -1;
    return { activations: [], weights: [{ input: 0, channelAxis: perColumn ? rank - 1 : undefined }], output: 'own', gatherRows: true };
  },
};
