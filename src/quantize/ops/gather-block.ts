import { attrInt, type NodeProto } from '../../onnx/index.js';
import { MS_DOMAIN, type PlanContext, type PlanResult, type QuantizeRule } from '../rule.js';
import { gatherRule, gatherTable } from './gather.js';

/**
 * Gather on a constant 2-D table (embeddings) along axis 0, as com.microsoft.GatherBlockQuantized
 * with uint8 data: each row [H] packed to H * bits / 8 bytes, blocks along the row (the last
 * axis), scales [V, ceil(H / block)]. onnxruntime 1.30's CPU kernel takes uint8 data only with
 * gather_axis 0 and quantize_axis last: other tables are stored int8 as without --bits
 * (Gather -> DequantizeLinear), and the report says why.
 */
export const gatherBlockRule: QuantizeRule = {
  opType: 'Gather',
  plan(node: NodeProto, ctx: PlanContext): PlanResult {
    const weight = gatherTable(node, ctx);
    if ('skip' in weight) return { skip: weight.skip };
    const problem = blockProblem(weight.dims, attrInt(node, 'axis', 0), ctx.options.block!.bits);
    if (problem) {
      const int8 = gatherRule.plan(node, ctx);
      if ('skip' in int8) return { skip: `${problem}; int8 neither: ${int8.skip}` };
      return { ...int8, note: `int8, not GatherBlockQuantized: ${problem}` };
    }
    return { weights: [{ input: 0, channelAxis: 1 }] };
  },
  rewrite(node, plan, ctx) {
    if (plan.note) return gatherRule.rewrite(node, plan, ctx);
    const w = ctx.blockWeight(node, { input: 0, rows: 'rows', padded: false });
    const inputs = [w.data, node.input![1]!, w.scales, ...(w.zeroPoints ? [w.zeroPoints] : [])];
    ctx.add('GatherBlockQuantized', inputs, {
      outputs: [node.output![0]!],
      domain: MS_DOMAIN,
      attrs: { bits: w.bits, block_size: w.blockSize, gather_axis: 0, quantize_axis: 1 },
    });
  },
};

function blockProblem(dims: number[], axis: number, bits: number): string | undefined {
  if (dims.length !== 2) return `the table is ${dims.length}-D (onnxruntime's kernel takes 2-D tables with packed uint8 data)`;
  if (axis !== 0 && axis !== -2) return `Gather along axis ${axis} (onnxruntime's kernel gathers rows, axis 0, with packed uint8 data)`;
  if ((dims[1]! * bits) % 8 !== 0) return `rows of ${dims[1]} values do not fill whole bytes at ${bits} bits`;
  return undefined;
}
