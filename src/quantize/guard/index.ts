// The accuracy guard (quantize within a metric budget, reverting the most sensitive nodes) and the per-node error report.
export { quantizeWithinBudget, nodeErrorReport, namedNodes, type GuardMetric, type GuardOptions, type GuardReport, type GuardStep, type RevertedNode } from './guard.js';
export { measureNodeErrors, type NodeError } from './node-error.js';
export { outputSqnrMetric } from './output-sqnr.js';
export { sampleInputs, type Feeds } from './feeds.js';
export { quantizeAnyMode } from './quantize-any.js';
