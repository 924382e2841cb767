import { getAttribute } from '../../attributes.js';
import { DataType } from '../../proto.js';
import type { OpUpgrade } from '../rule.js';
import { dropAttrs, floatScalarInput, intsInput, trimInputs } from './attrs-to-inputs.js';

/** Pad-11: pads and value attributes became inputs (pads int64, constant_value a scalar). */
export const padUpgrade: OpUpgrade = {
  opType: 'Pad',
  steps: [
    {
      version: 11,
      upgrade(node, ctx) {
        const pads = intsInput(node, 'pads', ctx);
        if (!pads) return { refuse: 'Pad without a pads attribute' };
        const hasValue = getAttribute(node, 'value') !== undefined;
        const type = ctx.elemTypeOf(node.input![0]!);
        if (hasValue && type !== undefined && type !== DataType.FLOAT) return { refuse: 'Pad value on a non-float32 input' };
        const value = floatScalarInput(node, 'value', ctx);
        dropAttrs(node, 'pads', 'value');
        node.input = trimInputs([node.input![0]!, pads, value]);
        return [node];
      },
    },
  ],
};
