// The data layer: datasets, labels, tokenizers, batching and model feeds (shared by eval and distill).
export * from './dataset.js';
export * from './model-config.js';
export * from './labels.js';
export * from './tokenizer.js';
export * from './wordpiece.js';
export * from './hf-tokenizer.js';
export * from './load-tokenizer.js';
export * from './encode.js';
export * from './batching.js';
export * from './feeds.js';
export * from './model-vocab.js';
export * from './model-tokenizer.js';
export * from './wordpiece-vocab.js';
export * from './tokenizer-json.js';
