import { UserError } from '../../errors.js';
import { DataType, runtimeInputs, valueShape, type ModelProto } from '../../onnx/index.js';
import { ort } from '../../runtime/session.js';

/** One set of named input tensors for a model run. */
export type Feeds = Record<string, ort.Tensor>;

/**
 * `count` seeded sample inputs for a model that takes tensors (not text): float inputs uniform
 * in [-1, 1), integer inputs zeros, booleans true; symbolic dims take size `dynamicSize`.
 * What the accuracy guard and the node report run on when no data file is given: it shows where
 * quantization error comes from on inputs of the right shape, not on the user's distribution.
 */
export function sampleInputs(model: ModelProto, count: number, opts: { dynamicSize?: number; seed?: number; label?: string } = {}): Feeds[] {
  const graph = model.graph!;
  const inputs = runtimeInputs(graph);
  let seed = (opts.seed ?? 12345) >>> 0;
  const rand = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
  const out: Feeds[] = [];
  for (let k = 0; k < count; k++) {
    const feeds: Feeds = {};
    for (const v of inputs) {
      const shape = valueShape(v);
      if (!shape) throw new UserError(`${opts.label ?? 'model'}: input "${v.name}" declares no shape; give --eval-data to run the model on real inputs`);
      const dims = shape.map((d) => (typeof d === 'number' && d > 0 ? d : (opts.dynamicSize ?? 1)));
      const n = dims.reduce((a, b) => a * b, 1);
      const type = v.type?.tensorType?.elemType;
      if (type === DataType.FLOAT) feeds[v.name!] = new ort.Tensor('float32', Float32Array.from({ length: n }, rand), dims);
      else if (type === DataType.INT64) feeds[v.name!] = new ort.Tensor('int64', new BigInt64Array(n), dims);
      else if (type === DataType.INT32) feeds[v.name!] = new ort.Tensor('int32', new Int32Array(n), dims);
      else if (type === DataType.BOOL) feeds[v.name!] = new ort.Tensor('bool', new Uint8Array(n).fill(1), dims);
      else throw new UserError(`${opts.label ?? 'model'}: input "${v.name}" has an element type sample inputs cannot be made for (${type})`);
    }
    out.push(feeds);
  }
  return out;
}
