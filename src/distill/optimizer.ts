// The optimizer step is a graph builder and lives with the training graph (autodiff), which
// distill imports downward; this module keeps its names where the recipe uses them.
export {
  appendOptimizer,
  optimizerScalars,
  optimizerStateNames,
  resolveOptimizer,
  type OptimizerGraph,
  type OptimizerKind,
  type OptimizerSpec,
  type ParamToUpdate,
  type ParamUpdateIO,
  type ResolvedOptimizerSpec,
} from '../autodiff/optimizer-graph.js';
