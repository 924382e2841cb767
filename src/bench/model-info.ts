import { stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { loadModelConfig, maxSequenceLength } from '../data/model-config.js';
import { UserError } from '../errors.js';
import { wordEmbeddingRows } from '../data/model-vocab.js';
import { blockQuantizedTensors, DataType, loadModel, modelStats, tensorByteLength, tensorDims, type ModelProto } from '../onnx/index.js';

/**
 * What the weights are stored as: decides which comparisons (quantized vs fp32) make sense.
 * int4 and int8-block are block-quantized weights (MatMulNBits, GatherBlockQuantized).
 */
export type WeightKind = 'fp32' | 'fp16' | 'int8' | 'int4' | 'int8-block' | 'mixed' | 'none';

/** The quantized kinds: weights stored as integers. */
export function isQuantizedKind(kind: WeightKind | undefined): kind is 'int8' | 'int4' | 'int8-block' {
  return kind === 'int8' || kind === 'int4' || kind === 'int8-block';
}

/** What bench knows about a model before opening a session on it. */
export interface ModelFacts {
  path: string;
  /** Short name for tables: the file name, or the folder for `model.onnx`. */
  label: string;
  /** Size of the .onnx file on disk. */
  fileBytes: number;
  /**
   * Bytes of all initializers (external data included), and by element type; block-quantized
   * codes, stored as uint8, count as `int4` or `int8-block` (the `int<bits>` of their op).
   */
  weightBytes: number;
  weightBytesByDtype: Record<string, number>;
  parameters: number;
  weightKind: WeightKind;
  /** Rows of the embedding table input_ids index (from the graph, else config.json). */
  vocabSize?: number;
  /** From config.json next to the model. */
  modelType?: string;
  maxSequenceLength?: number;
}

/** Share of the weight bytes that must be int8/uint8 before a model counts as quantized. */
const QUANTIZED_SHARE = 0.1;

export function weightKindOf(bytesByDtype: Record<string, number>): WeightKind {
  const total = Object.values(bytesByDtype).reduce((a, b) => a + b, 0);
  if (total === 0) return 'none';
  const share = (...names: string[]) => names.reduce((a, n) => a + (bytesByDtype[n] ?? 0), 0) / total;
  const quantized: Array<[WeightKind, number]> = [
    ['int8', share('int8', 'uint8')],
    ['int4', share('int4', 'uint4', 'int2', 'int3', 'int5', 'int6', 'int7')],
    ['int8-block', share('int8-block')],
  ];
  if (quantized.reduce((a, [, v]) => a + v, 0) >= QUANTIZED_SHARE) {
    // Most bytes name the kind: a 4-bit model whose small tables stayed int8 is int4.
    return quantized.reduce((best, q) => (q[1] > best[1] ? q : best))[0];
  }
  if (share('float32') >= 0.9) return 'fp32';
  if (share('float16', 'bfloat16') >= 0.9) return 'fp16';
  return 'mixed';
}

/** Rows of a learned position-embedding table (initializer named like position_embeddings), the longest input it allows. */
export function positionTableRows(model: ModelProto): number | undefined {
  for (const t of model.graph?.initializer ?? []) {
    const dims = tensorDims(t);
    if (dims.length === 2 && /position_embeddings?(\.weight)?$/i.test(t.name ?? '')) return dims[0];
  }
  return undefined;
}

/** Graph inputs that carry token ids, by the names exporters use. */
export function isTokenIdInput(name: string): boolean {
  return /^(input_ids|input|ids|tokens|token_ids)(:\d+)?$/i.test(name);
}

/** Table labels that tell models apart: file name, or folder name for `model.onnx`; made unique. */
export function modelLabels(paths: readonly string[]): string[] {
  const short = (p: string) => {
    const file = basename(p).replace(/\.onnx$/i, '');
    return file === 'model' ? basename(dirname(p)) || file : file;
  };
  const short1 = paths.map(short);
  const clash = (i: number) => paths.some((p, j) => j !== i && short1[j] === short1[i] && p !== paths[i]);
  const labels = short1.map((l, i) => (clash(i) ? `${basename(dirname(paths[i]!))}/${basename(paths[i]!)}` : l));
  // The same file given twice (an A/A run to see the noise floor) still needs two names.
  return labels.map((l, i) => (labels.indexOf(l) !== i ? `${l} #${labels.slice(0, i + 1).filter((x) => x === l).length}` : l));
}

/** Reads a model's file size, weight statistics and vocabulary. A model that cannot be read is a UserError. */
export async function modelFacts(path: string, label: string): Promise<ModelFacts> {
  const model = await loadModel(path);
  const fileBytes = (await stat(path)).size;
  const stats = modelStats(model);
  const bytesByDtype = blockBytesRelabelled(model, stats.initializerBytesByDtype);
  const config = await loadModelConfig(path).catch((e: unknown) => {
    // A broken config.json next to the model only costs us a vocab size hint.
    if (e instanceof UserError) return undefined;
    throw e;
  });
  const vocabSize = (model.graph ? wordEmbeddingRows(model.graph) : undefined) ?? config?.vocabSize;
  const maxLength = maxSequenceLength(config) ?? positionTableRows(model);
  return {
    path,
    label,
    fileBytes,
    weightBytes: stats.initializerBytes,
    weightBytesByDtype: bytesByDtype,
    parameters: stats.parameters,
    weightKind: weightKindOf(bytesByDtype),
    ...(vocabSize !== undefined ? { vocabSize } : {}),
    ...(config?.modelType ? { modelType: config.modelType } : {}),
    ...(maxLength !== undefined ? { maxSequenceLength: maxLength } : {}),
  };
}

/** Bytes by dtype with block-quantized codes moved from their storage type (uint8) to `int4` / `int8-block`. */
export function blockBytesRelabelled(model: ModelProto, bytesByDtype: Record<string, number>): Record<string, number> {
  const blocks = blockQuantizedTensors(model.graph ?? {});
  if (blocks.size === 0) return bytesByDtype;
  const out = { ...bytesByDtype };
  for (const t of model.graph?.initializer ?? []) {
    const block = blocks.get(t.name ?? '');
    if (!block) continue;
    const bytes = tensorByteLength(t);
    const from = t.dataType === DataType.UINT8 ? 'uint8' : undefined;
    if (!from || (out[from] ?? 0) < bytes) continue; // int4/uint4-typed codes already say what they are
    const to = block.bits === 8 ? 'int8-block' : `int${block.bits}`;
    out[from] = out[from]! - bytes;
    if (out[from] === 0) delete out[from];
    out[to] = (out[to] ?? 0) + bytes;
  }
  return out;
}
