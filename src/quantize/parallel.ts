import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { UserError } from '../errors.js';
import { elementCount, tensorByteLength, type ModelProto, type TensorProto } from '../onnx/index.js';
import { quantizeModel, type WeightQuantizer } from './driver.js';
import { tensorFloatSource } from './float-source.js';
import type { QuantizeOptions } from './options.js';
import type { QuantSpec } from './qparams.js';
import { quantizeWeight, type QuantizedWeight } from './weights.js';

/** One weight for a worker: an external-data tensor (its bytes stay in the file) and how to quantize it. */
export interface WeightJob {
  key: string;
  name: string;
  tensor: TensorProto;
  dims: number[];
  spec: QuantSpec;
  axis: number | undefined;
}

/** Below this many bytes of weights a worker costs more to start than it could save. */
const MIN_PARALLEL_BYTES = 32 << 20;

const workerUrl = new URL('./weight-worker.js', import.meta.url);
const keyOf = (name: string, axis: number | undefined) => `${name}|${axis ?? ''}`;

/**
 * Quantizes a model's weights on every core before the driver asks for them: a dry run of the
 * driver lists the weights it will quantize (and how), the large external-data ones are split
 * across worker threads and this thread by size, and the driver then takes the results through
 * the returned WeightQuantizer. Opt-in (`--threads`): on this shared, loaded 2-core VM it was
 * measured slower than one thread (see docs/commands/quantize.md), so it is not the default.
 * Returns undefined when it would not pay (weights under `minBytes`, one thread, block
 * quantization) or cannot run (from TypeScript sources, where the worker script is not compiled).
 */
export async function quantizeWeightsInParallel(
  model: ModelProto,
  options: QuantizeOptions,
  source: { label: string; baseDir: string | undefined },
  threads = availableParallelism(),
  minBytes = MIN_PARALLEL_BYTES,
): Promise<WeightQuantizer | undefined> {
  if (threads < 2 || !existsSync(fileURLToPath(workerUrl))) return undefined;
  // Block quantization (--bits) never asks the WeightQuantizer: a dry run would block-quantize every weight for nothing.
  if (options.bits !== undefined) return undefined;
  const jobs: WeightJob[] = [];
  const record: WeightQuantizer = (name, tensor, dims, spec, axis) => {
    // Only what the worker reads, in plain numbers (decoded int64s are Long objects, which do not survive postMessage).
    const slim: TensorProto = { name: tensor.name, dataType: tensor.dataType, dims, dataLocation: 1, externalData: tensor.externalData };
    if (tensor.dataLocation === 1) jobs.push({ key: keyOf(name, axis), name, tensor: slim, dims, spec, axis });
    const channels = axis === undefined ? 1 : dims[axis]!;
    // Zero-filled and never touched: the dry run costs no memory traffic.
    return { data: new Int8Array(elementCount(dims)), dims, scales: new Float32Array(channels).fill(1), zeroPoints: new Int32Array(channels), axis, maxAbsError: 0, sqnrDb: Infinity };
  };
  quantizeModel(model, options, { ...source, weightQuantizer: record });
  const bytes = jobs.reduce((s, j) => s + tensorByteLength(j.tensor), 0);
  if (bytes < minBytes) return undefined;

  // Largest first into the lightest bin (LPT): bins end up within one tensor of each other.
  const bins: WeightJob[][] = Array.from({ length: Math.min(threads, jobs.length) }, () => []);
  const load = bins.map(() => 0);
  for (const job of [...jobs].sort((a, b) => tensorByteLength(b.tensor) - tensorByteLength(a.tensor))) {
    const k = load.indexOf(Math.min(...load));
    bins[k]!.push(job);
    load[k]! += tensorByteLength(job.tensor);
  }
  const results = new Map<string, QuantizedWeight>();
  const failures: Array<{ error: string; userError: boolean }> = [];
  const workers = bins.slice(1).map((mine) => runWorker(mine, source, results, failures));
  for (const job of bins[0]!) {
    try {
      results.set(job.key, quantizeWeight(job.name, tensorFloatSource(job.tensor, source.baseDir, source.label), job.dims, job.spec, job.axis));
    } catch (e) {
      failures.push({ error: (e as Error).message, userError: e instanceof UserError });
    }
  }
  await Promise.all(workers);
  const failure = failures[0];
  if (failure) throw failure.userError ? new UserError(`${source.label}: ${failure.error}`) : new Error(failure.error);
  return (name, tensor, dims, spec, axis) =>
    results.get(keyOf(name, axis)) ?? quantizeWeight(name, tensorFloatSource(tensor, source.baseDir, source.label), dims, spec, axis);
}

function runWorker(jobs: WeightJob[], source: { label: string; baseDir: string | undefined }, results: Map<string, QuantizedWeight>, failures: Array<{ error: string; userError: boolean }>): Promise<void> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(workerUrl, { workerData: { jobs, baseDir: source.baseDir, label: source.label } });
    let pending = jobs.length;
    worker.on('message', (m: { key: string; q?: QuantizedWeight; error?: string; userError?: boolean }) => {
      if (m.q) {
        // Typed arrays arrive as the same types; Int8Array data viewed as uint8 keeps its bytes.
        results.set(m.key, m.q);
      } else failures.push({ error: m.error ?? 'worker failed', userError: Boolean(m.userError) });
      if (--pending === 0) void worker.terminate().then(() => resolve());
    });
    worker.on('error', reject);
    worker.on('exit', () => (pending > 0 ? reject(new Error('weight worker exited early')) : resolve()));
  });
}
