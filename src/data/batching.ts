import type { Encoding } from './tokenizer.js';

/** Padded rows of a batch, flat row-major [size, seqLength] (int32; feeds widen to int64 when needed). */
export interface Batch {
  /** Position of each row in the array given to makeBatches. */
  indices: number[];
  size: number;
  /** Longest row of this batch (dynamic padding). */
  seqLength: number;
  inputIds: Int32Array;
  attentionMask: Int32Array;
  tokenTypeIds: Int32Array;
  /** Label index per row, -1 where unknown. */
  labels: Int32Array;
}

export interface BatchOptions {
  /** Group rows of similar length so batches carry little padding. Default true. */
  sortByLength?: boolean;
  padId?: number;
}

/**
 * Splits encodings into batches padded to their own longest row. With sortByLength the rows
 * are grouped by length (longest first); `indices` says where each row came from, and
 * scatterRows puts per-row outputs back in the original order.
 */
export function makeBatches(encoded: readonly (Encoding & { label?: number })[], batchSize: number, options: BatchOptions = {}): Batch[] {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batch size must be a positive integer, got ${batchSize}`);
  const order = encoded.map((_, i) => i);
  // Array.prototype.sort is stable, so equal lengths keep their original order.
  if (options.sortByLength ?? true) order.sort((a, b) => encoded[b]!.ids.length - encoded[a]!.ids.length);
  const padId = options.padId ?? 0;
  const batches: Batch[] = [];
  for (let start = 0; start < order.length; start += batchSize) {
    const indices = order.slice(start, start + batchSize);
    let seqLength = 0;
    for (const i of indices) seqLength = Math.max(seqLength, encoded[i]!.ids.length);
    const size = indices.length;
    const inputIds = new Int32Array(size * seqLength);
    if (padId !== 0) inputIds.fill(padId);
    const attentionMask = new Int32Array(size * seqLength);
    const tokenTypeIds = new Int32Array(size * seqLength);
    const labels = new Int32Array(size);
    for (let r = 0; r < size; r++) {
      const e = encoded[indices[r]!]!;
      const base = r * seqLength;
      inputIds.set(e.ids, base);
      attentionMask.fill(1, base, base + e.ids.length);
      tokenTypeIds.set(e.typeIds, base);
      labels[r] = e.label ?? -1;
    }
    batches.push({ indices, size, seqLength, inputIds, attentionMask, tokenTypeIds, labels });
  }
  return batches;
}

/**
 * Writes per-batch outputs ([size, width] each, row-major) into one [count, width] array in the
 * original order of the rows.
 */
export function scatterRows(batches: readonly Batch[], outputs: readonly ArrayLike<number>[], width: number, count: number): Float32Array {
  const out = new Float32Array(count * width);
  batches.forEach((b, k) => {
    const rows = outputs[k]!;
    for (let r = 0; r < b.size; r++) {
      const dst = b.indices[r]! * width;
      for (let j = 0; j < width; j++) out[dst + j] = rows[r * width + j]!;
    }
  });
  return out;
}
