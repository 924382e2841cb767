import type { OpUpgrade, UpgradeStep } from '../rule.js';
import { dropAttrs, intsInput, trimInputs } from './attrs-to-inputs.js';

/** `axes` attribute -> second input (Squeeze/Unsqueeze/ReduceSum at 13, the other Reduce ops at 18). */
const axesToInput: UpgradeStep = (node, ctx) => {
  const axes = intsInput(node, 'axes', ctx);
  dropAttrs(node, 'axes');
  node.input = trimInputs([node.input![0]!, axes]);
  return [node];
};

export const axesUpgrades: OpUpgrade[] = [
  { opType: 'Squeeze', steps: [{ version: 13, upgrade: axesToInput }] },
  { opType: 'Unsqueeze', steps: [{ version: 13, upgrade: axesToInput }] },
  { opType: 'ReduceSum', steps: [{ version: 13, upgrade: axesToInput }] },
  ...['ReduceMean', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp', 'ReduceSumSquare'].map(
    (opType): OpUpgrade => ({ opType, steps: [{ version: 18, upgrade: axesToInput }] }),
  ),
];
