import { attrString, makeAttribute } from '../../attributes.js';
import type { OpUpgrade } from '../rule.js';

/**
 * Upsample (deprecated at 10) becomes Resize-10 with the same inputs; Resize-11 inserted the roi
 * input and made the coordinate mapping an attribute whose default (half_pixel) is not what
 * Upsample and Resize-10 compute: they map output x to input x / scale (asymmetric) and pick
 * the floor for nearest, so both are written out.
 */
export const upsampleUpgrade: OpUpgrade = {
  opType: 'Upsample',
  steps: [
    {
      version: 10,
      upgrade(node) {
        if (node.input?.length !== 2) return { refuse: 'Upsample with scales as an attribute (opset < 9)' };
        node.opType = 'Resize';
        return [node];
      },
    },
  ],
};

export const resizeUpgrade: OpUpgrade = {
  opType: 'Resize',
  steps: [
    {
      version: 11,
      upgrade(node, ctx) {
        const mode = attrString(node, 'mode') ?? 'nearest';
        if (mode !== 'nearest' && mode !== 'linear') return { refuse: `Resize mode ${mode}` };
        const [x, scales] = node.input!;
        node.input = [x!, ctx.float(`${node.name || 'Resize'}_roi`, [], [0]), scales!];
        const extra = [makeAttribute('coordinate_transformation_mode', 'asymmetric')];
        if (mode === 'nearest') extra.push(makeAttribute('nearest_mode', 'floor'));
        node.attribute = [...(node.attribute ?? []), ...extra];
        return [node];
      },
    },
  ],
};
