import { attrInt, type NodeProto } from '../../onnx/index.js';
import { MS_DOMAIN, type PlanContext, type PlanResult, type QuantizeRule } from '../rule.js';

/**
 * Gather on a constant 2-D table (embeddings) along axis 0, as com.microsoft.GatherBlockQuantized
 * with uint8 data: each row [H] packed to H * bits / 8 bytes, blocks along the row (the last
 * axis), scales [V, ceil(H / block)]. onnxruntime 1.30's CPU kernel takes uint8 data only with
 * gather_axis 0 and quantize_axis last (measured; other layouts stay float and say so).
 */
export const gatherBlockRule: QuantizeRule = {
  opType: 'Gather',
  plan(node: NodeProto, ctx: PlanContext): PlanResult {
    const data = node.input?.[0];
    if (!data) return { skip: 'Gather without a data input' };
    const weight = ctx.constantWeight(data);
    if ('skip' in weight) return { skip: weight.skip };
    if (weight.dims.length !== 2) return { skip: `table ${data} is ${weight.dims.length}-D; GatherBlockQuantized here takes 2-D tables` };
    const axis = attrInt(node, 'axis', 0);
    if (axis !== 0 && axis !== -2) return { skip: `Gather along axis ${axis}; GatherBlockQuantized with packed uint8 data gathers rows (axis 0) only` };
    const bits = ctx.options.block!.bits;
    if ((weight.dims[1]! * bits) % 8 !== 0) return { skip: `rows of ${weight.dims[1]} values do not fill whole bytes at ${bits} bits` };
    return { weights: [{ input: 0, channelAxis: 1 }] };
  },
  rewrite(node, _plan, ctx) {
    const w = ctx.blockWeight(node, { input: 0, rows: 'rows', padded: false });
    const inputs = [w.data, node.input![1]!, w.scales, ...(w.zeroPoints ? [w.zeroPoints] : [])];
    ctx.add('GatherBlockQuantized', inputs, {
      outputs: [node.output![0]!],
      domain: MS_DOMAIN,
      attrs: { bits: w.bits, block_size: w.blockSize, gather_axis: 0, quantize_axis: 1 },
    });
  },
};
