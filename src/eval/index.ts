// Evaluation: classifier sessions, metrics, the evaluator and the CI gates.
export * from './metrics.js';
export * from './classifier.js';
export * from './evaluator.js';
export * from './gates.js';
export * from './guarded-quantize.js';
