import type { NodeProto } from '../../onnx/index.js';
import { MS_DOMAIN } from '../rule.js';
import type { QdqPlanResult, StaticQuantizeRule } from '../static/rule.js';

function planPool(node: NodeProto): QdqPlanResult {
  if ((node.output ?? []).filter(Boolean).length > 1) return { skip: `${node.opType} with an Indices output stays float` };
  return { activations: [0], weights: [], output: 'shared', when: 'first' };
}

/**
 * Pooling after a quantized node keeps its input's scale and zero point. Under --format
 * qoperator MaxPool runs on the integers (opset >= 12), GlobalAveragePool / AveragePool become
 * com.microsoft QLinearGlobalAveragePool / QLinearAveragePool.
 */
export const maxPoolRule: StaticQuantizeRule = {
  opType: 'MaxPool',
  plan: planPool,
  qoperator(node, io, ctx) {
    const x = io.inputs[0];
    if (!x || ctx.opset < 12) return undefined;
    return { opType: 'MaxPool', input: [x.data], output: [io.output.data], attribute: node.attribute ?? [] };
  },
};

export const averagePoolRule: StaticQuantizeRule = {
  opType: 'AveragePool',
  plan: planPool,
  qoperator(node, io) {
    const x = io.inputs[0];
    if (!x) return undefined;
    return {
      opType: 'QLinearAveragePool',
      domain: MS_DOMAIN,
      input: [x.data, x.scale, x.zeroPoint, io.output.scale, io.output.zeroPoint],
      output: [io.output.data],
      attribute: node.attribute ?? [],
    };
  },
};

export const globalAveragePoolRule: StaticQuantizeRule = {
  opType: 'GlobalAveragePool',
  plan: planPool,
  qoperator(_node, io) {
    const x = io.inputs[0];
    if (!x) return undefined;
    return {
      opType: 'QLinearGlobalAveragePool',
      domain: MS_DOMAIN,
      input: [x.data, x.scale, x.zeroPoint, io.output.scale, io.output.zeroPoint],
      output: [io.output.data],
      attribute: [{ name: 'channels_last', type: 2, i: 0 }],
    };
  },
};

export const globalMaxPoolRule: StaticQuantizeRule = { opType: 'GlobalMaxPool', plan: planPool };
