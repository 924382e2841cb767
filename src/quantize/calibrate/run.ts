import { UserError } from '../../errors.js';
import type { ort } from '../../runtime/session.js';
import { HistogramStats, MinMaxStats, type CalibrationMethod, type TensorStats } from './collector.js';
import type { Feeds } from './data.js';

export interface CollectOptions {
  method: CalibrationMethod;
  /** minmax only: moving-average constant (e.g. 0.01); running min/max when undefined. */
  movingAverage?: number;
  onBatch?: (rows: number) => void;
}

export interface CollectResult {
  stats: Map<string, TensorStats>;
  batches: number;
  rows: number;
}

/**
 * Streams calibration batches through a session whose graph outputs include `tensors` (the
 * augmented model) and folds each batch's values into per-tensor statistics. A tensor that is
 * a graph input is read from the feeds. Only one batch's outputs are alive at a time.
 */
export async function collectStats(
  session: ort.InferenceSession,
  tensors: readonly string[],
  batches: AsyncIterable<Feeds>,
  o: CollectOptions,
  label: string,
): Promise<CollectResult> {
  const stats = new Map<string, TensorStats>();
  for (const t of tensors) stats.set(t, o.method === 'minmax' ? new MinMaxStats(o.movingAverage) : new HistogramStats());
  const inputs = new Set(session.inputNames);
  const fetched = tensors.filter((t) => !inputs.has(t));
  let count = 0;
  let rows = 0;
  for await (const feeds of batches) {
    let out: ort.InferenceSession.ReturnType = {};
    try {
      // Every calibrated tensor may be a graph input (a first MatMul quantized alone): nothing to run then.
      if (fetched.length) out = await session.run(feeds, fetched);
    } catch (e) {
      throw new UserError(`${label}: calibration batch ${count + 1} failed in onnxruntime: ${(e as Error).message.split('\n')[0]}`);
    }
    for (const t of tensors) {
      const value = inputs.has(t) ? feeds[t] : out[t];
      if (!value) throw new Error(`internal: calibration output ${t} missing`);
      if (value.type !== 'float32') throw new UserError(`${label}: tensor ${t} is ${value.type}; only float32 activations are calibrated`);
      stats.get(t)!.add(value.data as Float32Array);
    }
    // Free onnxruntime's output buffers now rather than at the next GC.
    for (const t of fetched) (out[t] as ort.Tensor & { dispose?: () => void }).dispose?.();
    count++;
    rows += Object.values(feeds)[0]?.dims[0] ?? 1;
    o.onBatch?.(rows);
  }
  if (count === 0) throw new UserError(`${label}: no calibration data`);
  return { stats, batches: count, rows };
}
