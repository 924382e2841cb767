// The distillation losses are graph builders and live with the training graph (autodiff), which
// distill imports downward; this module keeps their names where the recipe uses them.
export { appendLoss, lossWeights, type LossGraph, type LossKind, type LossSpec } from '../autodiff/loss-graph.js';
