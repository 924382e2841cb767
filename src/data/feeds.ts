import type { InferenceSession } from 'onnxruntime-node';
import { UserError } from '../errors.js';
import { ort } from '../runtime/session.js';
import type { Batch } from './batching.js';

export type FeedSource = 'input_ids' | 'attention_mask' | 'token_type_ids' | 'position_ids';

/** Model input names we can fill, with the spellings other exporters use. */
const inputAliases: Record<string, FeedSource> = {
  input_ids: 'input_ids',
  attention_mask: 'attention_mask',
  input_mask: 'attention_mask',
  token_type_ids: 'token_type_ids',
  segment_ids: 'token_type_ids',
  position_ids: 'position_ids',
};

export interface FeedPlanEntry {
  name: string;
  source: FeedSource;
  type: 'int64' | 'int32';
}

/**
 * Checks a model's inputs once and says how to fill each. An input we cannot fill (name or
 * element type) is a UserError naming it.
 */
export function planFeeds(inputs: readonly InferenceSession.ValueMetadata[], model = 'model'): FeedPlanEntry[] {
  const plan: FeedPlanEntry[] = [];
  for (const input of inputs) {
    const source = inputAliases[input.name.replace(/:\d+$/, '').toLowerCase()];
    if (!source) {
      throw new UserError(
        `${model}: cannot fill model input "${input.name}" (we provide input_ids, attention_mask, token_type_ids, position_ids)`,
      );
    }
    if (!input.isTensor || (input.type !== 'int64' && input.type !== 'int32')) {
      const type = input.isTensor ? input.type : 'a non-tensor';
      throw new UserError(`${model}: model input "${input.name}" is ${type}, expected int64 or int32`);
    }
    if (input.shape.length !== 0 && input.shape.length !== 2) {
      throw new UserError(`${model}: model input "${input.name}" has rank ${input.shape.length}, expected [batch, sequence]`);
    }
    plan.push({ name: input.name, source, type: input.type });
  }
  if (!plan.some((p) => p.source === 'input_ids')) throw new UserError(`${model}: the model has no input_ids input`);
  return plan;
}

/** onnxruntime tensors for one batch, typed as the model declares (int64 or int32). */
export function buildFeeds(
  inputs: readonly InferenceSession.ValueMetadata[] | readonly FeedPlanEntry[],
  batch: Batch,
  model = 'model',
): Record<string, ort.Tensor> {
  const plan = isPlan(inputs) ? inputs : planFeeds(inputs, model);
  const dims = [batch.size, batch.seqLength];
  const feeds: Record<string, ort.Tensor> = {};
  for (const entry of plan) {
    const data = entry.source === 'position_ids' ? positionIds(batch) : sourceArray(batch, entry.source);
    feeds[entry.name] = entry.type === 'int32' ? new ort.Tensor('int32', data, dims) : new ort.Tensor('int64', widen(data), dims);
  }
  return feeds;
}

function isPlan(v: readonly InferenceSession.ValueMetadata[] | readonly FeedPlanEntry[]): v is readonly FeedPlanEntry[] {
  return v.length > 0 && 'source' in v[0]!;
}

function sourceArray(batch: Batch, source: Exclude<FeedSource, 'position_ids'>): Int32Array {
  if (source === 'input_ids') return batch.inputIds;
  if (source === 'attention_mask') return batch.attentionMask;
  return batch.tokenTypeIds;
}

function positionIds(batch: Batch): Int32Array {
  const out = new Int32Array(batch.size * batch.seqLength);
  for (let r = 0; r < batch.size; r++) for (let j = 0; j < batch.seqLength; j++) out[r * batch.seqLength + j] = j;
  return out;
}

function widen(data: Int32Array): BigInt64Array {
  const out = new BigInt64Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = BigInt(data[i]!);
  return out;
}
