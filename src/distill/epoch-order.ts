/**
 * Which examples go into which batch, epoch by epoch, from the seed alone (so a resumed run
 * needs only the epoch and the batch position to pick up where it stopped).
 *
 * Length-bucketed dynamic padding, as the PyTorch reference runs did: shuffle every example
 * with the epoch's RNG, cut the shuffled list into chunks of `bucket` batches, sort each chunk
 * by length (longest first) and cut it into batches, then shuffle the order of all batches.
 * Every batch is a random draw from its chunk's length range, so little padding is computed,
 * and the order of batches stays random. `bucket: 0` skips the sort (plain random batches).
 */
import { SeededRandom } from '../architectures/random.js';

export interface EpochOrderOptions {
  batchSize: number;
  seed: number;
  /** 0-based epoch: each epoch has its own order. */
  epoch: number;
  /** Batches per length-sorted chunk (default 100); 0 disables length bucketing. */
  bucket?: number;
}

/** The epoch's RNG, seeded from (seed, epoch). */
export function epochRandom(seed: number, epoch: number): SeededRandom {
  let h = Math.imul((seed >>> 0) ^ 0x5bd1e995, 0x9e3779b1) ^ Math.imul(epoch + 1, 0x85ebca77);
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return new SeededRandom((h ^ (h >>> 16)) >>> 0);
}

/** Batches of example indices for one epoch (ceil(n / batchSize) of them; only the last chunk's last batch may be short). */
export function epochBatches(lengths: ArrayLike<number>, o: EpochOrderOptions): number[][] {
  const rng = epochRandom(o.seed, o.epoch);
  const order = rng.shuffle(Array.from({ length: lengths.length }, (_, i) => i));
  const bucket = o.bucket ?? 100;
  const batches: number[][] = [];
  const chunk = bucket > 0 ? bucket * o.batchSize : order.length;
  for (let start = 0; start < order.length; start += chunk) {
    const part = order.slice(start, start + chunk);
    // Stable sort: equal lengths keep their shuffled order.
    if (bucket > 0) part.sort((a, b) => lengths[b]! - lengths[a]!);
    for (let k = 0; k < part.length; k += o.batchSize) batches.push(part.slice(k, k + o.batchSize));
  }
  return bucket > 0 ? rng.shuffle(batches) : batches;
}
