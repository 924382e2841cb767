import { attrInt } from '../../onnx/index.js';
import { MS_DOMAIN } from '../rule.js';
import type { StaticQuantizeRule } from '../static/rule.js';

/**
 * Concat with at least one input from a quantized node: every computed input is quantized with
 * its own range, and so is the output; com.microsoft QLinearConcat under --format qoperator.
 */
export const concatRule: StaticQuantizeRule = {
  opType: 'Concat',
  plan(node, ctx) {
    // Constant inputs (shape pieces, mostly) stay float; QLinearConcat then is not possible.
    const activations = (node.input ?? []).flatMap((x, k) => (x && !ctx.constantInfo(x) ? [k] : []));
    return { activations, weights: [], output: 'own', when: 'any' };
  },
  qoperator(node, io) {
    if (io.inputs.some((x) => !x)) return undefined;
    const input = [io.output.scale, io.output.zeroPoint, ...io.inputs.flatMap((x) => [x!.data, x!.scale, x!.zeroPoint])];
    return { opType: 'QLinearConcat', domain: MS_DOMAIN, input, output: [io.output.data], attribute: [{ name: 'axis', type: 2, i: attrInt(node, 'axis', 0) }] };
  },
};
