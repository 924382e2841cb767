import { stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { loadModelConfig, maxSequenceLength } from '../data/model-config.js';
import { UserError } from '../errors.js';
import { wordEmbeddingRows } from '../data/model-vocab.js';
import { loadModel, modelStats, tensorDims, type ModelProto } from '../onnx/index.js';

/** What the weights are stored as: decides which comparisons (int8 vs fp32) make sense. */
export type WeightKind = 'fp32' | 'fp16' | 'int8' | 'mixed' | 'none';

/** What bench knows about a model before opening a session on it. */
export interface ModelFacts {
  path: string;
  /** Short name for tables: the file name, or the folder for `model.onnx`. */
  label: string;
  /** Size of the .onnx file on disk. */
  fileBytes: number;
  /** Bytes of all initializers (external data included), and by element type. */
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
  if (share('int8', 'uint8', 'int4', 'uint4') >= QUANTIZED_SHARE) return 'int8';
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
    weightBytesByDtype: stats.initializerBytesByDtype,
    parameters: stats.parameters,
    weightKind: weightKindOf(stats.initializerBytesByDtype),
    ...(vocabSize !== undefined ? { vocabSize } : {}),
    ...(config?.modelType ? { modelType: config.modelType } : {}),
    ...(maxLength !== undefined ? { maxSequenceLength: maxLength } : {}),
  };
}
