import { attrInt, attrInts, DataType, int64Tensor, type NodeProto } from '../../onnx/index.js';
import type { QuantizeRule } from '../rule.js';
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


/**
 * Conv, dynamic (`--op-types Conv`, not a default: on CPUs dynamic int8 Conv tends to be slower
 * than fp32, static is the mode for Conv nets): DynamicQuantizeLinear on X, ConvInteger, then the
 * int32 result times x_scale * w_scale and the float bias,
 * both reshaped to [C, 1, ...] to broadcast over the spatial dims; onnxruntime's IntegerOps form.
 * Per tensor, uint8 weights: what onnxruntime's CPU ConvInteger kernel runs.
 */
export const convDynamicRule: QuantizeRule = {
  opType: 'Conv',
  plan(node, ctx) {
    const w = node.input?.[1];
    if (!node.input?.[0] || !w) return { skip: 'Conv without X and W' };
    const weight = ctx.constantWeight(w);
    if ('skip' in weight) return { skip: weight.skip };
    if (weight.dims.length < 3) return { skip: `weight ${w} is ${weight.dims.length}-D; Conv needs >= 3-D` };
    if ((attrInts(node, 'kernel_shape')?.length ?? 2) !== weight.dims.length - 2) return { skip: 'Conv without kernel_shape on a weight that is not 4-D' };
    if (ctx.opset < 11) return { skip: `model imports opset ${ctx.opset}; dynamic quantization needs DynamicQuantizeLinear (opset >= 11)` };
    if (ctx.options.perChannel) return { skip: "ConvInteger is per-tensor only in onnxruntime's CPU provider: drop --per-channel (or use --mode static)" };
    if (ctx.options.weightType !== 'uint8') return { skip: "ConvInteger takes uint8 weights only in onnxruntime's CPU provider: use --weight-type uint8 (or --mode static)" };
    return { weights: [{ input: 1, channelAxis: 0 }] };
  },
  rewrite(node, plan, ctx) {
    const [x, , b] = node.input ?? [];
    const y = node.output![0]!;
    const act = ctx.activation(x!);
    const w = ctx.weight(node, plan.weights[0]!);
    const product = ctx.add('ConvInteger', [act.data, w.data, act.zeroPoint, w.zeroPoint], { attributes: node.attribute ?? [] })[0]!;
    const asFloat = ctx.add('Cast', [product], { attrs: { to: DataType.FLOAT } })[0]!;
    const spatial = attrInts(node, 'kernel_shape')?.length ?? 2;
    const shape = ctx.add('Constant', [], { attrs: { value: int64Tensor('shape', [-1, ...new Array<number>(spatial).fill(1)]) } })[0]!;
    const scale = ctx.add('Reshape', [ctx.add('Mul', [act.scale, w.scale])[0]!, shape])[0]!;
    if (!b) return void ctx.add('Mul', [asFloat, scale], { outputs: [y] });
    const scaled = ctx.add('Mul', [asFloat, scale])[0]!;
    ctx.add('Add', [scaled, ctx.add('Reshape', [b, shape])[0]!], { outputs: [y] });
  },
};
