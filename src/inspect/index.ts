// `distillery inspect` as a library: a typed summary of a model.
export { inspectModel, type InspectOptions, type ModelSummary, type QuantizedTensorSummary, type ValueSummary } from './summary.js';
export { findQuantizedTensors, type QuantParamRefs } from './quant-params.js';
