import { axesUpgrades } from './ops/axes.js';
import { batchNormalizationUpgrade } from './ops/batch-normalization.js';
import { clipUpgrade } from './ops/clip.js';
import { dropoutUpgrade } from './ops/dropout.js';
import { padUpgrade } from './ops/pad.js';
import { resizeUpgrade, upsampleUpgrade } from './ops/resize.js';
import { scatterUpgrade } from './ops/scatter.js';
import { sliceUpgrade } from './ops/slice.js';
import { softmaxUpgrades } from './ops/softmax.js';
import { splitUpgrade } from './ops/split.js';
import { topkUpgrade } from './ops/topk.js';
import type { OpUpgrade } from './rule.js';

/** Op type -> how its schema changed. Adding an op is one file in ops/ and one entry here. */
export const opUpgrades: ReadonlyMap<string, OpUpgrade> = new Map(
  [
    ...axesUpgrades,
    batchNormalizationUpgrade,
    clipUpgrade,
    dropoutUpgrade,
    padUpgrade,
    resizeUpgrade,
    upsampleUpgrade,
    scatterUpgrade,
    sliceUpgrade,
    ...softmaxUpgrades,
    splitUpgrade,
    topkUpgrade,
  ].map((u) => [u.opType, u]),
);
