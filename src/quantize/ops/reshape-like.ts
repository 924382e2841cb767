import type { StaticQuantizeRule } from '../static/rule.js';

/**
 * Ops that move values without changing them: after a quantized node they keep its scale and
 * zero point (no new quantization point); under --format qoperator they run on the integers.
 */
function moveRule(opType: string): StaticQuantizeRule {
  return {
    opType,
    plan: () => ({ activations: [0], weights: [], output: 'shared', when: 'first' }),
    qoperator(node, io) {
      const x = io.inputs[0];
      if (!x) return undefined;
      return { opType, input: [x.data, ...(node.input ?? []).slice(1)], output: [io.output.data], attribute: node.attribute ?? [] };
    },
  };
}

export const reshapeLikeRules: StaticQuantizeRule[] = ['Reshape', 'Transpose', 'Flatten', 'Squeeze', 'Unsqueeze'].map(moveRule);
