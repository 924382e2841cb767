import { attrString, getAttribute, makeAttribute } from '../../attributes.js';
import type { NodeProto } from '../../proto.js';
import { dropAttrs } from './attrs-to-inputs.js';

function attrFloats(node: NodeProto, name: string): number[] | undefined {
  const a = getAttribute(node, name);
  return a?.floats?.length ? [...a.floats] : undefined;
}
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
      upgrade(node, ctx) {
        // Upsample-7 holds scales as an attribute; -9 as an input.
        const scales = attrFloats(node, 'scales');
        if (scales) {
          node.input = [node.input![0]!, ctx.float(`${node.name || 'Upsample'}_scales`, scales)];
          dropAttrs(node, 'scales');
        }
        if (node.input?.length !== 2) return { refuse: 'Upsample without scales' };
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
