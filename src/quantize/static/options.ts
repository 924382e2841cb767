import { UserError } from '../../errors.js';
import { calibrationMethods, type CalibrationMethod } from '../calibrate/collector.js';
import type { CalibrationData } from '../calibrate/data.js';
import type { QuantType } from '../qparams.js';
import type { ResolvedQuantizeOptions } from '../options.js';

/** Options of `--mode static` (calibration and activation quantization). */
export interface StaticQuantizeOptions {
  /** Required: calibration inputs (a file, or feeds built in code). */
  data?: CalibrationData;
  /** minmax | percentile | entropy. Default minmax. */
  method?: string;
  /** percentile: share of |x| kept, in percent. Default 99.999. */
  percentile?: number;
  /** minmax: moving-average constant in (0, 1] (onnxruntime's 0.01); off by default. */
  movingAverage?: number;
  /** Examples used at most. Default 128. */
  size?: number;
  /** Rows per calibration run (text data). Default 8: bounds the activations alive at once. */
  batchSize?: number;
  /** uint8 (default) or int8 activations. */
  activationType?: string;
  /** Symmetric activation ranges (zero point 0 for int8, 128 for uint8). Default false. */
  activationSymmetric?: boolean;
}

export interface ResolvedStaticFields {
  data: CalibrationData;
  method: CalibrationMethod;
  percentile: number;
  movingAverage: number | undefined;
  size: number;
  batchSize: number;
  activationType: QuantType;
  activationSymmetric: boolean;
}

export type ResolvedStaticOptions = ResolvedQuantizeOptions & { calibration: ResolvedStaticFields };

export function resolveStaticFields(o: StaticQuantizeOptions): ResolvedStaticFields {
  if (!o.data) throw new UserError('--mode static needs calibration data (--calibrate <file>)');
  const method = o.method ?? 'minmax';
  if (!calibrationMethods.includes(method as CalibrationMethod)) {
    throw new UserError(`--calibration-method ${method}: unknown method (expected ${calibrationMethods.join(', ')})`);
  }
  const percentile = o.percentile ?? 99.999;
  if (!(percentile > 0 && percentile <= 100)) throw new UserError(`--percentile ${percentile}: expected a number in (0, 100]`);
  if (o.movingAverage !== undefined && !(o.movingAverage > 0 && o.movingAverage <= 1)) {
    throw new UserError(`--moving-average ${o.movingAverage}: expected a number in (0, 1]`);
  }
  if (o.movingAverage !== undefined && method !== 'minmax') throw new UserError('--moving-average applies to --calibration-method minmax only');
  const size = o.size ?? 128;
  if (!Number.isInteger(size) || size < 1) throw new UserError(`--calibration-size ${size}: expected a positive integer`);
  const batchSize = o.batchSize ?? 8;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new UserError(`--calibration-batch-size ${batchSize}: expected a positive integer`);
  const activationType = o.activationType ?? 'uint8';
  if (activationType !== 'uint8' && activationType !== 'int8') throw new UserError(`--activation-type ${activationType}: expected uint8 or int8`);
  return {
    data: o.data,
    method: method as CalibrationMethod,
    percentile,
    movingAverage: o.movingAverage,
    size,
    batchSize,
    activationType,
    activationSymmetric: o.activationSymmetric ?? false,
  };
}
