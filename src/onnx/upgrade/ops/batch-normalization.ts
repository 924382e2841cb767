import { attrInt } from '../../attributes.js';
import type { OpUpgrade } from '../rule.js';
import { dropAttrs } from './attrs-to-inputs.js';

/**
 * BatchNormalization-9 dropped `spatial` (always per channel); -14 gives the extra outputs only
 * in training mode. Inference graphs (one output, spatial=1) carry over unchanged.
 */
export const batchNormalizationUpgrade: OpUpgrade = {
  opType: 'BatchNormalization',
  steps: [
    {
      version: 9,
      upgrade(node) {
        if (attrInt(node, 'spatial', 1) !== 1) return { refuse: 'BatchNormalization with spatial=0 (removed at opset 9)' };
        dropAttrs(node, 'spatial');
        return [node];
      },
    },
    {
      version: 14,
      upgrade(node, ctx) {
        if ((node.output ?? []).slice(1).some((o) => o && ctx.isRead(o))) return { refuse: 'BatchNormalization in training form (running mean/var outputs read)' };
        node.output = node.output!.slice(0, 1);
        return [node];
      },
    },
  ],
};
