import type { OpUpgrade } from '../rule.js';

/** Scatter (deprecated at 11) is ScatterElements under its new name, same inputs and axis. */
export const scatterUpgrade: OpUpgrade = {
  opType: 'Scatter',
  steps: [
    {
      version: 11,
      upgrade(node) {
        node.opType = 'ScatterElements';
        return [node];
      },
    },
  ],
};
