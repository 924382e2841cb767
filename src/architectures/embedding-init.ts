/**
 * A fresh student's embeddings taken from its teacher: the word, position and token-type
 * tables (and the embedding LayerNorm) copied where the widths match, and projected onto the
 * teacher's top principal directions of its word embeddings where the student is narrower.
 */
import { wordEmbeddingTable } from '../data/model-vocab.js';
import { UserError } from '../errors.js';
import { producersOf } from '../onnx/graph.js';
import type { GraphProto, ModelProto, TensorProto } from '../onnx/proto.js';
import { makeTensor, tensorDims, tensorToFloat32 } from '../onnx/tensor.js';
import { findEncoderStructure } from './encoder-structure.js';

/** The embedding weights of an encoder classifier, found from its graph. */
export interface EmbeddingTables {
  word: TensorProto;
  position?: TensorProto;
  tokenType?: TensorProto;
  /** Embedding LayerNorm scale and bias (post-LN encoders). */
  normScale?: TensorProto;
  normBias?: TensorProto;
}

/**
 * The tables feeding the encoder's first block: Gathers of 2-D initializers among the
 * ancestors of the embedding output, told apart by their indices (input_ids, token_type_ids,
 * anything else is the position table).
 */
export function findEmbeddingTables(model: ModelProto, label = 'model'): EmbeddingTables {
  const graph = model.graph!;
  const word = wordEmbeddingTable(graph);
  if (!word) throw new UserError(`${label}: no word-embedding table (a 2-D initializer a Gather indexes with input_ids)`);
  const structure = findEncoderStructure(model, label);
  const producers = producersOf(graph);
  const inits = new Map((graph.initializer ?? []).map((t) => [t.name ?? '', t]));
  const ancestors = new Set<string>();
  const stack = [structure.embeddingOutput];
  const gathers: Array<{ table: TensorProto; indices: string }> = [];
  while (stack.length) {
    const v = stack.pop()!;
    if (ancestors.has(v)) continue;
    ancestors.add(v);
    const n = producers.get(v);
    if (!n) continue;
    const table = n.opType === 'Gather' ? inits.get(n.input?.[0] ?? '') : undefined;
    if (table && tensorDims(table).length === 2) gathers.push({ table, indices: n.input![1]! });
    for (const i of n.input ?? []) if (i) stack.push(i);
  }
  const fromInput = (indices: string, input: string) => {
    for (let v = indices, hops = 0; hops < 8; hops++) {
      if (v === input) return true;
      const p = producers.get(v);
      if (!p || !['Cast', 'Identity'].includes(p.opType ?? '')) return false;
      v = p.input![0]!;
    }
    return false;
  };
  const tables: EmbeddingTables = { word };
  for (const g of gathers) {
    if (g.table === word) continue;
    if (fromInput(g.indices, 'token_type_ids')) tables.tokenType = g.table;
    else if (!fromInput(g.indices, 'input_ids')) tables.position ??= g.table;
  }
  if (structure.norm === 'post') Object.assign(tables, layerNormWeights(graph, structure.embeddingOutput, inits));
  return tables;
}

/** Scale and bias of the LayerNorm producing `output`: the LayerNormalization op's inputs, or the decomposed pattern's final Mul and Add. */
function layerNormWeights(graph: GraphProto, output: string, inits: Map<string, TensorProto>): Pick<EmbeddingTables, 'normScale' | 'normBias'> {
  const producers = producersOf(graph);
  const n = producers.get(output);
  if (n?.opType === 'LayerNormalization') return { normScale: inits.get(n.input?.[1] ?? ''), normBias: inits.get(n.input?.[2] ?? '') };
  if (n?.opType !== 'Add') return {};
  const bias = n.input!.map((i) => inits.get(i)).find(Boolean);
  const mul = n.input!.map((i) => producers.get(i)).find((p) => p?.opType === 'Mul');
  const scale = mul?.input!.map((i) => inits.get(i)).find(Boolean);
  return scale && bias ? { normScale: scale, normBias: bias } : {};
}

/**
 * The top `k` principal directions of the rows of `x` (n x d, centred), as a d x k matrix
 * with orthonormal columns, by subspace iteration on the covariance in float64.
 */
export function principalDirections(x: Float32Array, n: number, d: number, k: number, iterations = 200): Float64Array {
  if (k > d) throw new Error(`cannot take ${k} directions of ${d}-dimensional data`);
  const mean = new Float64Array(d);
  for (let r = 0; r < n; r++) for (let c = 0; c < d; c++) mean[c]! += x[r * d + c]!;
  for (let c = 0; c < d; c++) mean[c]! /= n;
  const cov = new Float64Array(d * d);
  const row = new Float64Array(d);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < d; c++) row[c] = x[r * d + c]! - mean[c]!;
    for (let i = 0; i < d; i++) {
      const ri = row[i]!;
      if (ri === 0) continue;
      const base = i * d;
      for (let j = i; j < d; j++) cov[base + j]! += ri * row[j]!;
    }
  }
  for (let i = 0; i < d; i++) for (let j = 0; j < i; j++) cov[i * d + j] = cov[j * d + i]!;
  // Subspace iteration: Q <- orth(C Q), from a fixed start (deterministic).
  let q = new Float64Array(d * k);
  for (let i = 0; i < d; i++) for (let j = 0; j < k; j++) q[i * k + j] = Math.sin(1 + i * 7.13 + j * 3.71);
  orthonormalize(q, d, k);
  for (let it = 0; it < iterations; it++) {
    const next = new Float64Array(d * k);
    for (let i = 0; i < d; i++) {
      for (let l = 0; l < d; l++) {
        const c = cov[i * d + l]!;
        if (c === 0) continue;
        for (let j = 0; j < k; j++) next[i * k + j]! += c * q[l * k + j]!;
      }
    }
    orthonormalize(next, d, k);
    q = next;
  }
  return q;
}

/** Modified Gram-Schmidt on the columns of a d x k row-major matrix. */
function orthonormalize(m: Float64Array, d: number, k: number): void {
  for (let j = 0; j < k; j++) {
    for (let p = 0; p < j; p++) {
      let dot = 0;
      for (let i = 0; i < d; i++) dot += m[i * k + j]! * m[i * k + p]!;
      for (let i = 0; i < d; i++) m[i * k + j]! -= dot * m[i * k + p]!;
    }
    let norm = 0;
    for (let i = 0; i < d; i++) norm += m[i * k + j]! ** 2;
    norm = Math.sqrt(norm) || 1;
    for (let i = 0; i < d; i++) m[i * k + j]! /= norm;
  }
}

export interface EmbeddingInitReport {
  /** Tables copied as they are. */
  copied: string[];
  /** Tables projected onto the teacher's principal directions. */
  projected: string[];
}

/**
 * Replaces the student's embedding weights with the teacher's: copied when the shapes match,
 * projected (rows times the d_teacher x d_student matrix of the teacher's top principal word
 * directions, the same matrix for every table so their sum is projected as a whole) when only
 * the width differs. Tables whose row counts differ stay as they were.
 */
export function initEmbeddingsFromTeacher(student: ModelProto, teacher: ModelProto, labels = { student: 'student', teacher: 'teacher' }): EmbeddingInitReport {
  const s = findEmbeddingTables(student, labels.student);
  const t = findEmbeddingTables(teacher, labels.teacher);
  const report: EmbeddingInitReport = { copied: [], projected: [] };
  const [tRows, tWidth] = tensorDims(t.word) as [number, number];
  const [sRows, sWidth] = tensorDims(s.word) as [number, number];
  let projection: Float64Array | undefined;
  const replace = (target: TensorProto | undefined, source: TensorProto | undefined) => {
    if (!target || !source) return;
    const [rows, width] = tensorDims(target);
    const [srcRows, srcWidth] = tensorDims(source);
    const name = target.name ?? '';
    let data: Float32Array;
    if (tensorDims(target).length !== tensorDims(source).length || rows !== srcRows) return;
    if (width === srcWidth || (width === undefined && srcWidth === undefined)) {
      data = Float32Array.from(tensorToFloat32(source));
      report.copied.push(name);
    } else if (width === sWidth && srcWidth === tWidth && width! < srcWidth!) {
      projection ??= principalDirections(tensorToFloat32(t.word), tRows, tWidth, sWidth);
      const src = tensorToFloat32(source);
      data = new Float32Array(rows! * width!);
      for (let r = 0; r < rows!; r++) {
        for (let c = 0; c < srcWidth!; c++) {
          const v = src[r * srcWidth! + c]!;
          if (v === 0) continue;
          for (let j = 0; j < width!; j++) data[r * width! + j]! += v * projection[c * width! + j]!;
        }
      }
      report.projected.push(name);
    } else {
      return;
    }
    Object.assign(target, makeTensor(name, data, tensorDims(target)));
  };
  if (sRows !== tRows) return report;
  replace(s.word, t.word);
  replace(s.position, t.position);
  replace(s.tokenType, t.tokenType);
  if (sWidth === tWidth) {
    replace(s.normScale, t.normScale);
    replace(s.normBias, t.normBias);
  }
  return report;
}
