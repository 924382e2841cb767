// Worker thread of parallel.ts: quantizes the weights it is given (read from the model file
// itself, chunk by chunk) and posts each result back, its int8 buffer transferred, not copied.
import { parentPort, workerData } from 'node:worker_threads';
import { UserError } from '../errors.js';
import { tensorFloatSource } from './float-source.js';
import type { WeightJob } from './parallel.js';
import { quantizeWeight } from './weights.js';

const { jobs, baseDir, label } = workerData as { jobs: WeightJob[]; baseDir: string | undefined; label: string };
for (const job of jobs) {
  try {
    const q = quantizeWeight(job.name, tensorFloatSource(job.tensor, baseDir, label), job.dims, job.spec, job.axis);
    const data = q.data.buffer as ArrayBuffer;
    parentPort!.postMessage({ key: job.key, q }, [data]);
  } catch (e) {
    parentPort!.postMessage({ key: job.key, error: (e as Error).message, userError: e instanceof UserError });
  }
}
