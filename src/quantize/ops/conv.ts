import { attrInt, type NodeProto } from '../../onnx/index.js';
import type { QdqPlanResult, StaticPlanContext, StaticQuantizeRule } from '../static/rule.js';

function planConv(node: NodeProto, ctx: StaticPlanContext, transpose: boolean): QdqPlanResult {
  const [x, w, b] = node.input ?? [];
  if (!x || !w) return { skip: `${node.opType} without X and W` };
  const weight = ctx.constantWeight(w);
  if ('skip' in weight) return { skip: weight.skip };
  if (weight.dims.length < 3) return { skip: `weight ${w} is ${weight.dims.length}-D; ${node.opType} needs >= 3-D` };
  const group = attrInt(node, 'group', 1);
  // ConvTranspose weights are [C_in, C_out / group, ...]: output channels are axis 1, and only
  // contiguous per channel when there is one group.
  const channelAxis = transpose ? (group === 1 ? 1 : undefined) : 0;
  const channels = transpose ? weight.dims[1]! * group : weight.dims[0]!;
  const info = b ? ctx.constantInfo(b) : undefined;
  const bias = info && info.dims.length === 1 && info.dims[0] === channels ? { input: 2, activation: 0, weight: 1 } : undefined;
  return { activations: [0], weights: [{ input: 1, channelAxis }], bias, output: 'own' };
}

/** Conv with a constant weight: QDQ on X and W (per output channel: axis 0), int32 bias; QLinearConv under --format qoperator. */
export const convRule: StaticQuantizeRule = {
  opType: 'Conv',
  plan: (node, ctx) => planConv(node, ctx, false),
  qoperator(node, io) {
    const x = io.inputs[0];
    const w = io.inputs[1];
    if (!x || !w) return undefined;
    return {
      opType: 'QLinearConv',
      input: [x.data, x.scale, x.zeroPoint, w.data, w.scale, w.zeroPoint, io.output.scale, io.output.zeroPoint, ...(io.bias ? [io.bias] : [])],
      output: [io.output.data],
      attribute: node.attribute ?? [],
    };
  },
};

/** ConvTranspose: QDQ only (onnxruntime fuses it where its provider has a kernel, else runs it in float between DQ and Q). */
export const convTransposeRule: StaticQuantizeRule = {
  opType: 'ConvTranspose',
  plan: (node, ctx) => planConv(node, ctx, true),
};

