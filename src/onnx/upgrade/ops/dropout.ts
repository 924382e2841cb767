import type { OpUpgrade } from '../rule.js';
import { dropAttrs, floatScalarInput, trimInputs } from './attrs-to-inputs.js';

/**
 * Dropout-12: ratio became an input (and training_mode one, default off). At inference Dropout
 * is the identity either way; a read mask output changed type at 10 (T -> bool), so that refuses.
 */
export const dropoutUpgrade: OpUpgrade = {
  opType: 'Dropout',
  steps: [
    {
      version: 10,
      upgrade(node, ctx) {
        const mask = node.output?.[1];
        if (mask && ctx.isRead(mask)) return { refuse: 'Dropout mask output is read (its type changed at opset 10)' };
        return [node];
      },
    },
    {
      version: 12,
      upgrade(node, ctx) {
        const ratio = floatScalarInput(node, 'ratio', ctx);
        dropAttrs(node, 'ratio');
        node.input = trimInputs([node.input![0]!, ratio]);
        return [node];
      },
    },
  ],
};
