import type { ResolvedDevice } from '../runtime/device.js';
import type { InferenceSession } from 'onnxruntime-node';
import { UserError } from '../errors.js';
import { halfToFloat } from '../onnx/tensor.js';
import { makeBatches, type Batch } from '../data/batching.js';
import { buildFeeds, planFeeds, type FeedPlanEntry } from '../data/feeds.js';
import { openSession, type SessionSettings } from '../runtime/session.js';

/** An onnxruntime session of a sequence classifier, with its inputs planned and its output checked. */
export interface Classifier {
  path: string;
  session: InferenceSession;
  device: ResolvedDevice;
  feeds: FeedPlanEntry[];
  /** `logits`, else the first output. */
  outputName: string;
  /** Width of the [batch, num_labels] output. */
  numLabels: number;
}

/**
 * Opens a classifier and checks it: inputs we can fill, an output of shape [batch, num_labels]
 * (a one-row probe run settles symbolic shapes).
 */
export async function openClassifier(path: string, settings: SessionSettings = {}): Promise<Classifier> {
  const { session, device } = await openSession(path, settings);
  const feeds = planFeeds(session.inputMetadata, path);
  const output = session.outputMetadata.find((o) => o.name === 'logits') ?? session.outputMetadata[0];
  if (!output) throw new UserError(`${path}: the model has no outputs`);
  if (output.isTensor && output.shape.length !== 0 && output.shape.length !== 2) {
    throw new UserError(`${path}: output "${output.name}" has shape [${output.shape.join(', ')}], expected [batch, num_labels]`);
  }
  // Token id 0 exists in every vocabulary; the probe only reads the output's shape.
  const [batch] = makeBatches([{ ids: [0, 0], typeIds: [0, 0] }], 1);
  const result = await session.run(buildFeeds(feeds, batch!, path), [output.name]);
  const dims = result[output.name]!.dims;
  if (dims.length !== 2 || dims[0] !== 1 || !(dims[1]! >= 1)) {
    throw new UserError(`${path}: output "${output.name}" has shape [${dims.join(', ')}] for one example, expected [batch, num_labels]`);
  }
  return { path, session, device, feeds, outputName: output.name, numLabels: dims[1]! };
}

/** Logits of one batch, [batch.size, numLabels] row-major. */
export async function classifyBatch(model: Classifier, batch: Batch): Promise<Float32Array> {
  const result = await model.session.run(buildFeeds(model.feeds, batch, model.path), [model.outputName]);
  const tensor = result[model.outputName]!;
  const dims = tensor.dims;
  if (dims.length !== 2 || dims[0] !== batch.size || dims[1] !== model.numLabels) {
    throw new UserError(`${model.path}: output "${model.outputName}" has shape [${dims.join(', ')}], expected [${batch.size}, ${model.numLabels}]`);
  }
  if (tensor.type === 'float32') return tensor.data as Float32Array;
  if (tensor.type === 'float64') return Float32Array.from(tensor.data as Float64Array);
  // float16 models with float16 outputs (quantize --dtype fp16 --fp16-io, many exported fp16 models).
  if (tensor.type === 'float16') return Float32Array.from(tensor.data as Uint16Array, halfToFloat);
  throw new UserError(`${model.path}: output "${model.outputName}" is ${tensor.type}, expected float logits`);
}

/** Logits of every row of the batches, in the original order of the rows (see makeBatches). */
export async function classifyBatches(
  model: Classifier,
  batches: readonly Batch[],
  count: number,
  onProgress?: (rowsDone: number) => void,
): Promise<Float32Array> {
  const width = model.numLabels;
  const out = new Float32Array(count * width);
  let done = 0;
  for (const batch of batches) {
    const logits = await classifyBatch(model, batch);
    for (let r = 0; r < batch.size; r++) out.set(logits.subarray(r * width, (r + 1) * width), batch.indices[r]! * width);
    done += batch.size;
    onProgress?.(done);
  }
  return out;
}
