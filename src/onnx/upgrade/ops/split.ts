import { makeAttribute } from '../../attributes.js';
import type { OpUpgrade } from '../rule.js';
import { dropAttrs, intsInput, trimInputs } from './attrs-to-inputs.js';

/** Split-13: the split attribute became an input; Split-18 needs num_outputs when that input is absent. */
export const splitUpgrade: OpUpgrade = {
  opType: 'Split',
  steps: [
    {
      version: 13,
      upgrade(node, ctx) {
        const split = intsInput(node, 'split', ctx);
        dropAttrs(node, 'split');
        node.input = trimInputs([node.input![0]!, split]);
        return [node];
      },
    },
    {
      version: 18,
      upgrade(node) {
        if (!node.input?.[1]) node.attribute = [...(node.attribute ?? []), makeAttribute('num_outputs', node.output!.length)];
        return [node];
      },
    },
  ],
};
