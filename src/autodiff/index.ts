// Autodiff: ONNX inference graph -> training graph of standard ONNX ops (see training-graph.ts).
export { buildTrainingGraph, type TrainingGraph, type TrainingGraphOptions, type TrainableParam } from './training-graph.js';
export { buildGradientModel, type GradientModel, type GradientModelOptions } from './gradient-model.js';
export { gradcheck, type GradcheckOptions, type GradcheckResult } from './gradcheck.js';
export { selectTrainable, type TrainableSelection } from './trainable.js';
export { supportedGradientOps, type GradContext, type GradientRule } from './registry.js';
export { findDropoutSites, type DropoutSite } from './dropout-sites.js';
export { probeValueFacts, type FactTable, type ValueFacts, type StaticDim } from './shapes.js';
