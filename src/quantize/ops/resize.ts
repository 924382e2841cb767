import type { StaticQuantizeRule } from '../static/rule.js';

/** Resize after a quantized node keeps its input's scale; under --format qoperator it runs on the integers (onnxruntime's CPU Resize takes uint8/int8). */
export const resizeRule: StaticQuantizeRule = {
  opType: 'Resize',
  plan: () => ({ activations: [0], weights: [], output: 'shared', when: 'first' }),
  qoperator(node, io, ctx) {
    const x = io.inputs[0];
    if (!x || ctx.opset < 11) return undefined;
    return { opType: 'Resize', input: [x.data, ...(node.input ?? []).slice(1)], output: [io.output.data], attribute: node.attribute ?? [] };
  },
};
