import { attrInt, type NodeProto } from '../../onnx/index.js';
import type { ConstantWeight, PlanContext, PlanResult, QuantizeRule } from '../rule.js';

/** Gather's constant table (input 0), or why the Gather stays float; every Gather rule starts here. */
export function gatherTable(node: NodeProto, ctx: Pick<PlanContext, 'constantWeight'>): ConstantWeight | { skip: string } {
  const data = node.input?.[0];
  if (!data) return { skip: 'Gather without a data input' };
  return ctx.constantWeight(data);
}

/**
 * Gather on a constant table (embeddings): the table is stored int8 with its shape unchanged
 * and only the gathered rows are dequantized (Gather -> DequantizeLinear), in every format.
 * Per channel means per column (the table's last axis), which DequantizeLinear applies to the
 * gathered output's last axis.
 */
export const gatherRule: QuantizeRule = {
  opType: 'Gather',
  plan(node: NodeProto, ctx: PlanContext): PlanResult {
    const weight = gatherTable(node, ctx);
    if ('skip' in weight) return { skip: weight.skip };
    const rank = weight.dims.length;
    if (rank === 0) return { skip: `table ${node.input![0]} is a scalar` };
    const axis = attrInt(node, 'axis', 0);
    const last = rank - 1;
    if (ctx.opset < 10) return { skip: `model imports opset ${ctx.opset}; DequantizeLinear needs opset >= 10` };
    if (ctx.options.perChannel) {
      if (ctx.opset < 13) return { skip: `model imports opset ${ctx.opset}; per-channel DequantizeLinear needs opset >= 13` };
      if (rank < 2 || axis === last || axis === -1) return { skip: 'per-channel needs a table of rank >= 2 gathered along another axis than the last' };
    }
    return { weights: [{ input: 0, channelAxis: last }] };
  },
  rewrite(node, plan, ctx) {
    const w = ctx.weight(node, plan.weights[0]!);
    const axis = attrInt(node, 'axis', 0);
    const rows = ctx.add('Gather', [w.data, node.input![1]!], { attrs: { axis: axis === 0 ? undefined : axis } })[0]!;
    ctx.add('DequantizeLinear', [rows, w.scale, w.zeroPoint], {
      outputs: [node.output![0]!],
      attrs: { axis: w.axis === undefined ? undefined : -1 },
    });
  },
};
