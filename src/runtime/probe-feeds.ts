/**
 * Sample inputs for probe runs: a graph run on small made-up inputs to learn the shape of every
 * value (element type, which dims are fixed, which follow an input's symbolic dim). Used by the
 * autodiff (static facts for gradient rules) and by calibration (activation sizes for its
 * memory plan). Two runs give each symbol a different size > 1, far apart, so sizes derived
 * from a symbol (n - 1, ceil(n / 2), n * m) differ between the runs too.
 */
import * as ort from 'onnxruntime-node';
import { UserError } from '../errors.js';
import { DataType, valueShape, type ValueInfoProto } from '../onnx/index.js';

const probeSizes: Array<[number, number]> = [
  [3, 8],
  [5, 11],
  [6, 13],
  [7, 17],
];

/** The size symbol number `k` takes in probe run `run`. */
export function probeSize(k: number, run: 0 | 1): number {
  return k < probeSizes.length ? probeSizes[k]![run] : 19 + 2 * k + 9 * run;
}

/**
 * How unnamed dynamic dims become symbols: `shared`, one symbol `?` for all of them (every
 * unnamed dim takes the same size: inputs that must agree always do); `by-axis`, one symbol per
 * axis position (`?0`, `?1`: batch and sequence of `[?, ?]` inputs told apart).
 */
export type UnnamedDims = 'shared' | 'by-axis';

/** An input's shape with each unnamed dynamic dim replaced by its symbol; undefined when it declares none. */
export function symbolicShape(v: ValueInfoProto, unnamed: UnnamedDims): Array<number | string> | undefined {
  return valueShape(v)?.map((d, i) => (d === '?' ? (unnamed === 'shared' ? '?' : `?${i}`) : d));
}

/** The symbols of the inputs' shapes, in order of first appearance (a named dim, `batch`, is one symbol wherever it appears). */
export function inputSymbols(inputs: readonly ValueInfoProto[], unnamed: UnnamedDims): string[] {
  const symbols: string[] = [];
  for (const v of inputs) for (const d of symbolicShape(v, unnamed) ?? []) if (typeof d === 'string' && !symbols.includes(d)) symbols.push(d);
  return symbols;
}

/** The sizes every symbol takes in probe run `run`. */
export function probeSymbolSizes(symbols: readonly string[], run: 0 | 1): Map<string, number> {
  return new Map(symbols.map((s, k) => [s, probeSize(k, run)]));
}

/**
 * Feeds for one probe run: int inputs are zeros (valid indices, token type 0), bool inputs
 * true (an attention mask that keeps everything), float inputs small seeded values in [-1, 1).
 */
export function probeFeeds(inputs: readonly ValueInfoProto[], sizes: Map<string, number>, unnamed: UnnamedDims, label = 'model'): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  for (const v of inputs) {
    const shape = symbolicShape(v, unnamed);
    if (!shape) throw new UserError(`${label}: graph input "${v.name}" declares no shape; cannot make probe inputs for it`);
    const dims = shape.map((d) => (typeof d === 'number' ? d : (sizes.get(d) ?? 1)));
    const n = dims.reduce((a, b) => a * b, 1);
    const type = v.type?.tensorType?.elemType ?? DataType.FLOAT;
    switch (type) {
      case DataType.FLOAT:
        feeds[v.name!] = new ort.Tensor('float32', Float32Array.from({ length: n }, rand), dims);
        break;
      case DataType.DOUBLE:
        feeds[v.name!] = new ort.Tensor('float64', Float64Array.from({ length: n }, rand), dims);
        break;
      case DataType.INT64:
        feeds[v.name!] = new ort.Tensor('int64', new BigInt64Array(n), dims);
        break;
      case DataType.INT32:
        feeds[v.name!] = new ort.Tensor('int32', new Int32Array(n), dims);
        break;
      case DataType.BOOL:
        feeds[v.name!] = new ort.Tensor('bool', new Uint8Array(n).fill(1), dims);
        break;
      default:
        throw new UserError(`${label}: graph input "${v.name}" has an element type we cannot make sample data for (${type})`);
    }
  }
  return feeds;
}
