import { DataType } from '../../proto.js';
import type { OpUpgrade } from '../rule.js';
import { dropAttrs, floatScalarInput, trimInputs } from './attrs-to-inputs.js';

/** Clip-11: min/max attributes became optional scalar inputs of the input's type. */
export const clipUpgrade: OpUpgrade = {
  opType: 'Clip',
  steps: [
    {
      version: 11,
      upgrade(node, ctx) {
        const type = ctx.elemTypeOf(node.input![0]!);
        if (type !== undefined && type !== DataType.FLOAT) return { refuse: 'Clip on a non-float32 input (min/max would need that type)' };
        const min = floatScalarInput(node, 'min', ctx);
        const max = floatScalarInput(node, 'max', ctx);
        dropAttrs(node, 'min', 'max');
        node.input = trimInputs([node.input![0]!, min, max]);
        return [node];
      },
    },
  ],
};
