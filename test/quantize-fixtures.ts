// Shared fixtures for the quantize/inspect/onnx-io tests: small BERT classifiers from the builder
// and helpers to run models in onnxruntime and compare outputs.
import { buildBertClassifier, defaultBertConfig, type BertConfig } from '../src/architectures/bert.js';
import { encodeModel, type ModelProto } from '../src/onnx/index.js';
import { openSession, ort } from '../src/runtime/session.js';

/** Embedding(1000, 64) and 64x64 / 64x128 matrices: large enough for the default --min-elements. */
export const smallBert: BertConfig = {
  ...defaultBertConfig,
  vocabSize: 1000,
  hiddenSize: 64,
  numHeads: 2,
  intermediateSize: 128,
  numLayers: 2,
  maxPositions: 32,
  numLabels: 3,
};

export function smallBertModel(seed = 1, opset?: number): ModelProto {
  return buildBertClassifier(smallBert, { seed, opset });
}

export function bertFeeds(batch: number, seq: number, vocab = smallBert.vocabSize): Record<string, ort.Tensor> {
  const n = batch * seq;
  const ids = BigInt64Array.from({ length: n }, (_, i) => BigInt(1 + ((i * 7919 + 13) % (vocab - 1))));
  const mask = new BigInt64Array(n).fill(1n);
  mask[n - 1] = 0n;
  return {
    input_ids: new ort.Tensor('int64', ids, [batch, seq]),
    attention_mask: new ort.Tensor('int64', mask, [batch, seq]),
    token_type_ids: new ort.Tensor('int64', new BigInt64Array(n), [batch, seq]),
  };
}

/** Runs a model (in memory) and returns its first output's values. */
export async function runModel(model: ModelProto | Uint8Array, feeds: Record<string, ort.Tensor>, output?: string): Promise<Float32Array> {
  const { session } = await openSession(model instanceof Uint8Array ? model : encodeModel(model), { threads: 1 });
  try {
    const out = await session.run(feeds);
    return out[output ?? session.outputNames[0]!]!.data as Float32Array;
  } finally {
    await session.release();
  }
}

/** 10 log10(sum ref^2 / sum (ref - x)^2). */
export function sqnrDb(ref: ArrayLike<number>, x: ArrayLike<number>): number {
  let s = 0;
  let n = 0;
  for (let i = 0; i < ref.length; i++) {
    s += ref[i]! ** 2;
    n += (ref[i]! - x[i]!) ** 2;
  }
  return n === 0 ? Infinity : 10 * Math.log10(s / n);
}

export function opTypes(model: ModelProto): string[] {
  return (model.graph?.node ?? []).map((n) => (n.domain ? `${n.domain}.${n.opType}` : n.opType!));
}
