import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { InferenceSession } from 'onnxruntime-node';
import { UserError } from '../../errors.js';
import { makeBatches } from '../../data/batching.js';
import { readDataset, datasetFormatOf, type DatasetOptions } from '../../data/dataset.js';
import { encodeRecords } from '../../data/encode.js';
import { buildFeeds, planFeeds } from '../../data/feeds.js';
import { loadModelTokenizer } from '../../data/model-tokenizer.js';
import { ort } from '../../runtime/session.js';

export type Feeds = Record<string, ort.Tensor>;

/**
 * Where calibration inputs come from:
 * - `file`: text (csv/tsv/jsonl, read as `eval` reads them) tokenized with the model's
 *   tokenizer, or a tensor file (.jsonl whose lines map input names to `{dims, data}`,
 *   see docs/commands/quantize.md);
 * - `feeds`: batches already built (library callers, tests).
 */
export type CalibrationData =
  | { kind: 'file'; path: string; dataset?: DatasetOptions; tokenizer?: string; maxLength?: number }
  | { kind: 'feeds'; batches: Feeds[] };

export interface CalibrationBatchOptions {
  /** Examples (rows) to use at most. */
  size: number;
  /** Rows per batch run through the model (text data; tensor files keep their own batching). */
  batchSize: number;
  /** The model file (its tokenizer and config sit next to it). */
  modelPath?: string;
}

/** Calibration batches, streamed: one batch of feeds in memory at a time (plus the encoded ids of text data). */
export async function* calibrationBatches(
  data: CalibrationData,
  inputs: readonly InferenceSession.ValueMetadata[],
  o: CalibrationBatchOptions,
): AsyncGenerator<Feeds> {
  if (data.kind === 'feeds') {
    let rows = 0;
    for (const f of data.batches) {
      if (rows >= o.size) return;
      yield f;
      rows += batchRows(f);
    }
    return;
  }
  if (await isTensorFile(data.path)) {
    yield* tensorFileBatches(data.path, inputs, o.size);
    return;
  }
  if (!o.modelPath) throw new UserError(`${data.path}: text calibration data needs the model's path (for its tokenizer)`);
  const { tokenizer } = await loadModelTokenizer(o.modelPath, { tokenizer: data.tokenizer, maxLength: data.maxLength });
  const plan = planFeeds(inputs, o.modelPath);
  const records = [];
  for await (const r of readDataset(data.path, { ...data.dataset, requireLabel: false })) {
    // Calibration needs the texts only: a label column (names the model may not map) is ignored.
    records.push({ text: r.text, textPair: r.textPair, line: r.line });
    if (records.length >= o.size) break;
  }
  const encoded = encodeRecords(records, tokenizer, undefined, data.path);
  for (const batch of makeBatches(encoded, o.batchSize)) yield buildFeeds(plan, batch, o.modelPath);
}

function batchRows(f: Feeds): number {
  const first = Object.values(f)[0];
  return first?.dims[0] ?? 1;
}

/** A .jsonl whose first non-empty line is an object of `{dims, data}` values. */
async function isTensorFile(path: string): Promise<boolean> {
  try {
    if (!(await stat(path)).isFile()) throw new UserError(`${path}: not a file`);
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`${path}: cannot read calibration data (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (datasetFormatOf(path) !== 'jsonl') return false;
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  try {
    for await (const line of lines) {
      if (!line.trim()) continue;
      try {
        const row = JSON.parse(line.replace(/^\uFEFF/, '')) as unknown;
        return isTensorRow(row);
      } catch {
        return false;
      }
    }
    return false;
  } finally {
    lines.close();
  }
}

function isTensorRow(row: unknown): row is Record<string, { dims: number[]; data: unknown[] }> {
  if (!row || typeof row !== 'object' || Array.isArray(row)) return false;
  const values = Object.values(row);
  return values.length > 0 && values.every((v) => v && typeof v === 'object' && 'dims' in v && 'data' in v);
}

const tensorTypes = new Set(['float32', 'float64', 'int64', 'int32', 'int8', 'uint8', 'bool']);

/** One batch per line: `{"input": {"dims": [1, 3, 32, 32], "data": [...]}, ...}`, every model input named. */
async function* tensorFileBatches(path: string, inputs: readonly InferenceSession.ValueMetadata[], size: number): AsyncGenerator<Feeds> {
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  let lineNo = 0;
  let rows = 0;
  let any = false;
  try {
    for await (const line of lines) {
      lineNo++;
      if (!line.trim()) continue;
      if (rows >= size) return;
      const where = `${path}:${lineNo}`;
      let row: unknown;
      try {
        row = JSON.parse(lineNo === 1 ? line.replace(/^\uFEFF/, '') : line);
      } catch (e) {
        throw new UserError(`${where}: not valid JSON (${(e as Error).message})`);
      }
      if (!isTensorRow(row)) throw new UserError(`${where}: expected an object of {"dims": [...], "data": [...]} per model input`);
      const feeds: Feeds = {};
      for (const input of inputs) {
        const v = row[input.name];
        if (!v) throw new UserError(`${where}: no tensor for model input "${input.name}" (has: ${Object.keys(row).join(', ')})`);
        const type = input.isTensor ? input.type : 'non-tensor';
        if (!tensorTypes.has(type)) throw new UserError(`${where}: model input "${input.name}" is ${type}; calibration files hold numeric tensors only`);
        feeds[input.name] = toTensor(v, type as ort.Tensor.Type, `${where}: "${input.name}"`);
      }
      rows += feeds[inputs[0]!.name]!.dims[0] ?? 1;
      any = true;
      yield feeds;
    }
  } finally {
    lines.close();
  }
  if (!any) throw new UserError(`${path}: calibration file has no tensors`);
}

function toTensor(v: { dims: number[]; data: unknown[] }, type: ort.Tensor.Type, where: string): ort.Tensor {
  if (!Array.isArray(v.dims) || !v.dims.every((d) => Number.isInteger(d) && d >= 0)) throw new UserError(`${where}: dims must be non-negative integers`);
  if (!Array.isArray(v.data)) throw new UserError(`${where}: data must be a flat array of numbers`);
  const n = v.dims.reduce((a, b) => a * b, 1);
  if (v.data.length !== n) throw new UserError(`${where}: ${v.data.length} values for dims [${v.dims.join(', ')}] (expected ${n})`);
  if (!v.data.every((x) => typeof x === 'number' && Number.isFinite(x))) throw new UserError(`${where}: data holds a non-number or non-finite value`);
  const nums = v.data as number[];
  switch (type) {
    case 'float32':
      return new ort.Tensor('float32', Float32Array.from(nums), v.dims);
    case 'float64':
      return new ort.Tensor('float64', Float64Array.from(nums), v.dims);
    case 'int64':
      return new ort.Tensor('int64', BigInt64Array.from(nums, (x) => BigInt(Math.trunc(x))), v.dims);
    case 'int32':
      return new ort.Tensor('int32', Int32Array.from(nums), v.dims);
    case 'int8':
      return new ort.Tensor('int8', Int8Array.from(nums), v.dims);
    case 'uint8':
      return new ort.Tensor('uint8', Uint8Array.from(nums), v.dims);
    default:
      return new ort.Tensor('bool', Uint8Array.from(nums, (x) => (x ? 1 : 0)), v.dims);
  }
}

/** One line of a tensor calibration file (for writers of such files: tests, scripts). */
export function tensorFileLine(feeds: Record<string, { dims: readonly number[]; data: ArrayLike<number | bigint> }>): string {
  const row: Record<string, { dims: number[]; data: number[] }> = {};
  for (const [name, t] of Object.entries(feeds)) row[name] = { dims: [...t.dims], data: Array.from(t.data as ArrayLike<number>, Number) };
  return JSON.stringify(row);
}
