import { attrInt, makeAttribute } from '../../attributes.js';
import type { NodeProto } from '../../proto.js';
import type { OpUpgrade, UpgradeStep } from '../rule.js';
import { dropAttrs } from './attrs-to-inputs.js';

/**
 * Softmax, LogSoftmax and Hardmax before 13 flatten the input to 2-D at `axis` (default 1) and
 * normalize each row; from 13 they normalize along `axis` alone (default -1). The same when
 * `axis` is the last axis; otherwise Flatten -> op(axis=-1) -> Reshape back rebuilds the old meaning.
 */
const coercedAxis: UpgradeStep = (node, ctx) => {
  const axis = attrInt(node, 'axis', 1);
  const x = node.input![0]!;
  const rank = ctx.rankOf(x);
  if (axis === -1 || (rank !== undefined && axis === rank - 1)) {
    dropAttrs(node, 'axis');
    node.attribute = [...(node.attribute ?? []), makeAttribute('axis', -1)];
    return [node];
  }
  const base = node.name || node.opType!;
  const shape = ctx.fresh(`${base}_input_shape`);
  const flat = ctx.fresh(`${base}_flat`);
  const normalized = ctx.fresh(`${base}_2d`);
  const nodes: NodeProto[] = [
    { name: ctx.fresh(`${base}_Shape`), opType: 'Shape', input: [x], output: [shape] },
    { name: ctx.fresh(`${base}_Flatten`), opType: 'Flatten', input: [x], output: [flat], attribute: [makeAttribute('axis', axis)] },
    { ...node, input: [flat], output: [normalized], attribute: [makeAttribute('axis', -1)] },
    { name: ctx.fresh(`${base}_Reshape`), opType: 'Reshape', input: [normalized, shape], output: [node.output![0]!] },
  ];
  return nodes;
};

export const softmaxUpgrades: OpUpgrade[] = ['Softmax', 'LogSoftmax', 'Hardmax'].map((opType) => ({ opType, steps: [{ version: 13, upgrade: coercedAxis }] }));
