import { UserError } from '../errors.js';
import { parseDevice, type Device } from '../runtime/device.js';
import type { GraphOptimizationLevel } from '../runtime/session.js';
import type { BenchOptions } from './types.js';

/** BenchOptions with defaults filled in and every value checked. */
export interface CheckedOptions {
  batchSizes: number[];
  batchExplicit: boolean;
  seqLens: Array<number | undefined>;
  warmup: number;
  iterations: number;
  blockSize: number;
  device: Device;
  threads: number;
  graphOptimizationLevel: GraphOptimizationLevel;
  baseline: number;
  seed: number;
  placement: boolean;
  dims: Record<string, number>;
}

/** "1,8,32" -> [1, 8, 32]; anything but positive integers is a UserError naming the flag. */
export function parsePositiveIntList(value: string, flag: string): number[] {
  const parts = value.split(',').map((s) => s.trim());
  if (parts.some((p) => p === '')) throw new UserError(`${flag} "${value}": expected a comma-separated list of positive integers`);
  return parts.map((p) => {
    const n = Number(p);
    if (!/^[+-]?\d+$/.test(p) || !Number.isSafeInteger(n) || n < 1) throw new UserError(`${flag} ${p}: must be a positive integer`);
    return n;
  });
}

/** "name=N" pairs for --dim. */
export function parseDimAssignments(values: readonly string[]): Record<string, number> {
  const dims: Record<string, number> = {};
  for (const v of values) {
    const m = v.match(/^([^=]+)=(\d+)$/);
    if (!m || Number(m[2]) < 1) throw new UserError(`--dim ${v}: expected name=N with N a positive integer`);
    dims[m[1]!.trim()] = Number(m[2]);
  }
  return dims;
}

function positiveInts(values: readonly number[] | undefined, flag: string): number[] | undefined {
  if (values === undefined) return undefined;
  if (values.length === 0) throw new UserError(`${flag}: no values given`);
  for (const v of values) if (!Number.isSafeInteger(v) || v < 1) throw new UserError(`${flag} ${v}: must be a positive integer`);
  return [...new Set(values)];
}

function count(value: number | undefined, fallback: number, flag: string, min: number): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v < min) throw new UserError(`${flag} ${v}: must be an integer >= ${min}`);
  return v;
}

export function checkOptions(paths: readonly string[], o: BenchOptions): CheckedOptions {
  if (paths.length === 0) throw new UserError('bench: give at least one model');
  const batchSizes = positiveInts(o.batchSizes, '--batch-size');
  const seqLens = positiveInts(o.seqLens, '--seq-len');
  const iterations = count(o.iterations, 100, '--iterations', 1);
  const device = parseDevice(o.device ?? 'cpu');
  let baseline = 0;
  if (typeof o.baseline === 'string') {
    baseline = paths.indexOf(o.baseline);
    if (baseline < 0) throw new UserError(`--baseline ${o.baseline}: not one of the models being benchmarked`);
  } else if (o.baseline !== undefined) {
    if (!Number.isInteger(o.baseline) || o.baseline < 0 || o.baseline >= paths.length) {
      throw new UserError(`--baseline ${o.baseline}: expected a model index from 0 to ${paths.length - 1}`);
    }
    baseline = o.baseline;
  }
  for (const [name, v] of Object.entries(o.dims ?? {})) {
    if (!Number.isSafeInteger(v) || v < 1) throw new UserError(`--dim ${name}=${v}: must be a positive integer`);
  }
  return {
    batchSizes: batchSizes ?? [1],
    batchExplicit: batchSizes !== undefined,
    seqLens: seqLens ?? [undefined],
    warmup: count(o.warmup, 10, '--warmup', 0),
    iterations,
    blockSize: count(o.blockSize, Math.min(1000, Math.max(1, Math.ceil(iterations / 10))), 'block size', 1),
    device,
    threads: count(o.threads, 0, '--threads', 0),
    graphOptimizationLevel: o.graphOptimizationLevel ?? 'all',
    baseline,
    seed: o.seed ?? 0,
    placement: o.placement ?? true,
    dims: { ...(o.dims ?? {}) },
  };
}
