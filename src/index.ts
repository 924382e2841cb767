// The library behind the `distillery` command: every command is a thin layer over these.
export * from './errors.js';
export * from './onnx/index.js';
export * from './architectures/bert.js';
export * from './architectures/convnet.js';
export * from './architectures/encoder-structure.js';
export * from './architectures/derive-student.js';
export * from './architectures/embedding-init.js';
export * from './data/index.js';
export * from './eval/index.js';
export * from './runtime/session.js';
export * from './runtime/device.js';
export * from './bench/index.js';
export * from './distill/index.js';
export * from './quantize/index.js';
export * from './inspect/index.js';
export * from './publish/transformers-folder.js';
export { runDemo, type DemoOptions, type DemoResult } from './demo/pipeline.js';
