// Weight quantization: a driver that asks one rule per op type (ops/), shared scale/zero-point math (qparams).
export { quantizeModel, type QuantizeResult } from './driver.js';
export { quantizeFile, NothingToQuantizeError, nothingQuantizedMessage, copyCompanionFiles, bytesOnDisk, type QuantizeFileOptions } from './file.js';
export * from './options.js';
export * from './qparams.js';
export * from './report.js';
export { quantizeWeight, type QuantizedWeight } from './weights.js';
export { quantizeRules, supportedOpTypes } from './ops/registry.js';
export type { QuantizeRule } from './rule.js';
export { quantizeModelStatic, type StaticSource } from './static/driver.js';
export type { StaticQuantizeOptions } from './static/options.js';
export type { CalibrationData } from './calibrate/data.js';
export { calibrationMethods, type CalibrationMethod } from './calibrate/collector.js';
export { prepareForQuantization, requiredOpset, type PreparationReport } from './prepare/prepare.js';
export * from './guard/index.js';
