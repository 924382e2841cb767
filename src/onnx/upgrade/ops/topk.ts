import { attrInt } from '../../attributes.js';
import type { OpUpgrade } from '../rule.js';
import { dropAttrs } from './attrs-to-inputs.js';

/** TopK-10: the k attribute became a 1-D int64 input. */
export const topkUpgrade: OpUpgrade = {
  opType: 'TopK',
  steps: [
    {
      version: 10,
      upgrade(node, ctx) {
        const k = attrInt(node, 'k');
        if (k === undefined) return { refuse: 'TopK without a k attribute' };
        dropAttrs(node, 'k');
        node.input = [node.input![0]!, ctx.int64(`${node.name || 'TopK'}_k`, [k])];
        return [node];
      },
    },
  ],
};
