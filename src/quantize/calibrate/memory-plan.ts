/**
 * How many activations one calibration run may hold. onnxruntime keeps every graph output of
 * a run alive until the run ends (fetching fewer of them does not help: measured, a 4-layer
 * BERT-base-wide model at 16 x 128 peaks at 1.6 GB fetching one of its 100 extra outputs
 * and at 0.4 GB without them), and the JS side copies each output. So the calibrated
 * activations are split into groups whose bytes, at the largest batch the data holds, stay
 * under a budget; each group gets its own augmented model and its own pass over the data.
 *
 * Activation shapes come from shape inference by running: the augmented session runs twice on
 * small probe inputs (src/runtime/probe-feeds.ts) and each dim of each activation is matched
 * to what it follows (fixed, an input symbol, a product of two, a linear function of one).
 */
import type { ort } from '../../runtime/session.js';
import { inputSymbols, probeFeeds, probeSize, probeSymbolSizes, symbolicShape } from '../../runtime/probe-feeds.js';
import type { ValueInfoProto } from '../../onnx/index.js';
import type { Feeds } from './data.js';

/** What one dim of an activation follows. */
export type DimRule =
  | { kind: 'fixed'; size: number }
  | { kind: 'symbol'; symbol: string }
  /** A flattened pair: batch x sequence. */
  | { kind: 'product'; symbols: [string, string] }
  /** a * n + b, a a positive integer (n - 1, 2n, n + 1). */
  | { kind: 'linear'; symbol: string; a: number; b: number }
  /** Nothing above: sized by the largest growth of any symbol from its probe size (an over-estimate). */
  | { kind: 'unknown'; probe: number };

export interface ActivationShape {
  /** onnxruntime's element type name (float32, int64, ...). */
  type: string;
  dims: DimRule[];
}

export interface ProbedShapes {
  symbols: string[];
  shapes: Map<string, ActivationShape>;
}

const elementBytes: Record<string, number> = {
  float32: 4, float64: 8, float16: 2, int64: 8, int32: 4, int16: 2, uint16: 2, int8: 1, uint8: 1, bool: 1, uint32: 4, uint64: 8,
};

/**
 * The shapes of `tensors` (fetched from `session`, whose graph has them as outputs), from two
 * probe runs. Throws (a UserError naming the input, or onnxruntime's error) when the inputs
 * cannot be made up: a caller falls back to a single group.
 */
export async function probeActivationShapes(
  session: ort.InferenceSession,
  inputs: readonly ValueInfoProto[],
  tensors: readonly string[],
  label: string,
): Promise<ProbedShapes> {
  const symbols = inputSymbols(inputs, 'by-axis');
  const runs: Array<Record<string, { dims: readonly number[]; type: string }>> = [];
  const inputNames = new Set(inputs.map((v) => v.name ?? ''));
  const fetched = tensors.filter((t) => !inputNames.has(t));
  for (const run of [0, 1] as const) {
    const feeds = probeFeeds(inputs, probeSymbolSizes(symbols, run), 'by-axis', label);
    const out = fetched.length ? await session.run(feeds, fetched) : {};
    const seen: Record<string, { dims: readonly number[]; type: string }> = {};
    for (const t of tensors) {
      const v = (inputNames.has(t) ? feeds[t] : out[t]) as ort.Tensor | undefined;
      if (v) seen[t] = { dims: [...v.dims], type: v.type };
    }
    for (const t of fetched) (out[t] as ort.Tensor & { dispose?: () => void } | undefined)?.dispose?.();
    runs.push(seen);
  }
  const shapes = new Map<string, ActivationShape>();
  for (const t of tensors) {
    const a = runs[0]![t];
    const b = runs[1]![t];
    if (!a || !b) continue;
    const dims = a.dims.length === b.dims.length ? a.dims.map((d, i) => dimRule(d, b.dims[i]!, symbols)) : b.dims.map((d) => ({ kind: 'unknown', probe: d }) as DimRule);
    shapes.set(t, { type: a.type, dims });
  }
  return { symbols, shapes };
}

/** What a dim that measured `d0` in probe run 0 and `d1` in run 1 follows. */
export function dimRule(d0: number, d1: number, symbols: readonly string[]): DimRule {
  if (d0 === d1) return { kind: 'fixed', size: d0 };
  const s = symbols.map((_, k) => [probeSize(k, 0), probeSize(k, 1)] as const);
  for (let k = 0; k < s.length; k++) if (s[k]![0] === d0 && s[k]![1] === d1) return { kind: 'symbol', symbol: symbols[k]! };
  for (let j = 0; j < s.length; j++) {
    for (let k = j; k < s.length; k++) {
      if (s[j]![0] * s[k]![0] === d0 && s[j]![1] * s[k]![1] === d1) return { kind: 'product', symbols: [symbols[j]!, symbols[k]!] };
    }
  }
  for (let k = 0; k < s.length; k++) {
    const a = (d1 - d0) / (s[k]![1] - s[k]![0]);
    if (Number.isInteger(a) && a >= 1) return { kind: 'linear', symbol: symbols[k]!, a, b: d0 - a * s[k]![0] };
  }
  return { kind: 'unknown', probe: d1 };
}

/** A dim's size when the symbols take `sizes` (symbols missing from `sizes` keep their probe size). */
export function dimSize(rule: DimRule, sizes: ReadonlyMap<string, number>, symbols: readonly string[]): number {
  const size = (s: string) => sizes.get(s) ?? probeSize(symbols.indexOf(s), 1);
  switch (rule.kind) {
    case 'fixed':
      return rule.size;
    case 'symbol':
      return size(rule.symbol);
    case 'product':
      return size(rule.symbols[0]) * size(rule.symbols[1]);
    case 'linear':
      return Math.max(0, rule.a * size(rule.symbol) + rule.b);
    case 'unknown': {
      let growth = 1;
      symbols.forEach((s, k) => (growth = Math.max(growth, size(s) / probeSize(k, 1))));
      return Math.ceil(rule.probe * growth);
    }
  }
}

/** Bytes of one activation when the symbols take `sizes`. */
export function activationBytes(shape: ActivationShape, sizes: ReadonlyMap<string, number>, symbols: readonly string[]): number {
  return shape.dims.reduce((n, d) => n * dimSize(d, sizes, symbols), elementBytes[shape.type] ?? 8);
}

/** A shape for people and --json: fixed dims as numbers, the rest named by what they follow. */
export function describeShape(shape: ActivationShape): Array<number | string> {
  return shape.dims.map((d) => {
    switch (d.kind) {
      case 'fixed':
        return d.size;
      case 'symbol':
        return d.symbol;
      case 'product':
        return `${d.symbols[0]}*${d.symbols[1]}`;
      case 'linear':
        return `${d.a === 1 ? '' : `${d.a}*`}${d.symbol}${d.b === 0 ? '' : d.b > 0 ? `+${d.b}` : `${d.b}`}`;
      case 'unknown':
        return '?';
    }
  });
}

/** Folds one batch's input dims into the largest size each symbol takes. */
export function observeBatchSizes(inputs: readonly ValueInfoProto[], feeds: Feeds, into: Map<string, number>): void {
  for (const v of inputs) {
    const shape = symbolicShape(v, 'by-axis');
    const t = feeds[v.name ?? ''];
    if (!shape || !t) continue;
    shape.forEach((d, i) => {
      if (typeof d === 'string' && t.dims[i] !== undefined) into.set(d, Math.max(into.get(d) ?? 0, t.dims[i]!));
    });
  }
}

/** Items packed into groups under a byte budget. */
export interface Packed<T> {
  /** The groups, in the order given. */
  groups: T[][];
  /** Bytes of each group at the planned sizes. */
  groupBytes: number[];
  /** Bytes of all items together. */
  totalBytes: number;
  /** Items over the budget on their own (each gets a group of its own). */
  oversized: T[];
}

/** Calibrated tensors per pass; graph inputs (read from the feeds, not fetched) go with the first. */
export type CalibrationGroups = Packed<string>;

/**
 * Greedy split of `tensors` into groups of at most `budget` bytes (at `sizes`), keeping their
 * order, so activations of one layer stay together. Tensors without a known shape count as 0.
 */
export function groupByBudget(
  tensors: readonly string[],
  probed: ProbedShapes,
  sizes: ReadonlyMap<string, number>,
  budget: number,
  graphInputs: ReadonlySet<string>,
): CalibrationGroups {
  const bytesOf = (t: string) => {
    const shape = probed.shapes.get(t);
    return shape ? activationBytes(shape, sizes, probed.symbols) : 0;
  };
  // Graph inputs are read from the feeds, not fetched: they go with the first group, for nothing.
  const fetched = tensors.filter((t) => !graphInputs.has(t));
  const packed = packByBytes(fetched, bytesOf, budget);
  packed.groups[0]!.unshift(...tensors.filter((t) => graphInputs.has(t)));
  return packed;
}

/** Packs `items`, in order, into groups of at most `budget` bytes each (an item over it alone gets a group of its own). */
export function packByBytes<T>(items: readonly T[], bytesOf: (item: T) => number, budget: number): Packed<T> {
  const groups: T[][] = [[]];
  const groupBytes = [0];
  const oversized: T[] = [];
  let totalBytes = 0;
  for (const item of items) {
    const bytes = bytesOf(item);
    totalBytes += bytes;
    if (bytes > budget) oversized.push(item);
    const last = groups.length - 1;
    if (groups[last]!.length > 0 && groupBytes[last]! + bytes > budget) {
      groups.push([item]);
      groupBytes.push(bytes);
    } else {
      groups[last]!.push(item);
      groupBytes[last]! += bytes;
    }
  }
  return { groups, groupBytes, totalBytes, oversized };
}
