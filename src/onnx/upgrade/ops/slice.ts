import type { OpUpgrade } from '../rule.js';
import { dropAttrs, intsInput, trimInputs } from './attrs-to-inputs.js';

/** Slice-10: starts/ends/axes attributes became inputs (steps added, default 1). */
export const sliceUpgrade: OpUpgrade = {
  opType: 'Slice',
  steps: [
    {
      version: 10,
      upgrade(node, ctx) {
        const starts = intsInput(node, 'starts', ctx);
        const ends = intsInput(node, 'ends', ctx);
        if (!starts || !ends) return { refuse: 'Slice without starts/ends attributes' };
        const axes = intsInput(node, 'axes', ctx);
        dropAttrs(node, 'starts', 'ends', 'axes');
        node.input = trimInputs([node.input![0]!, starts, ends, axes]);
        return [node];
      },
    },
  ],
};
