// Benchmarks: latency percentiles, throughput, size, memory and node placement of ONNX models,
// several side by side. `benchModels` is the library entry; `distillery bench` prints its result.
export * from './types.js';
export { benchModels } from './harness.js';
export * from './percentiles.js';
export * from './compare.js';
export * from './inputs.js';
export * from './machine.js';
export * from './model-info.js';
export * from './options.js';
export * from './placement.js';
export type { ModelRunner, BlockResult, OpenedRunner, ProcessMemory, RunnerOptions } from './runner.js';
export { SessionRunner } from './session-runner.js';
export { ChildRunner, workerScript } from './child-runner.js';
