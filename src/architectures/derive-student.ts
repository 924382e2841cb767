/**
 * Students made from the teacher itself (DistilBERT's recipe): the teacher's graph with a
 * subset of its encoder blocks, every kept weight copied unchanged, the residual stream
 * rewired past the dropped blocks.
 */
import { UserError } from '../errors.js';
import { cloneForEditing, removeDeadNodes } from '../onnx/graph.js';
import type { ModelProto } from '../onnx/proto.js';
import { findEncoderStructure, type EncoderStructure } from './encoder-structure.js';

export interface DeriveStudentOptions {
  /** How many blocks to keep (spread over the depth, see spreadLayers), or which ones (0-based teacher indices). */
  layers: number | readonly number[];
  /** Names the teacher in error messages. */
  label?: string;
}

export interface DerivedStudent {
  model: ModelProto;
  /** Teacher block indices kept, in order. */
  keptLayers: number[];
  teacherLayers: number;
  /** The teacher's structure (block i of the student is teacher block keptLayers[i]). */
  structure: EncoderStructure;
  /** config.json fields that change from the teacher's. */
  configChanges: { num_hidden_layers: number };
}

/**
 * `count` of `total` block indices spread evenly over the depth, first and last included:
 * round(i * (total - 1) / (count - 1)). For 6 of 12 this is DistilBERT's 0,2,4,7,9,11; for
 * 2 of 4, 0 and 3. One block keeps the first (its input is what the embeddings were trained
 * to feed).
 */
export function spreadLayers(total: number, count: number): number[] {
  if (!Number.isInteger(count) || count < 1) throw new UserError(`--student-layers: the layer count must be a positive integer, got ${count}`);
  if (count > total) throw new UserError(`--student-layers: the teacher has ${total} layer(s), cannot keep ${count}`);
  if (count === 1) return [0];
  return Array.from({ length: count }, (_, i) => Math.round((i * (total - 1)) / (count - 1)));
}

/** `--student-layers` text: a count (`2`) or the teacher layers to keep, comma-separated (`0,3`; one layer: `3,`). */
export function parseStudentLayers(text: string): number | number[] {
  const t = text.trim();
  if (!t.includes(',')) {
    const n = Number(t);
    if (!/^\d+$/.test(t) || n < 1) throw new UserError(`--student-layers "${text}": give a positive layer count (2) or comma-separated teacher layers (0,3)`);
    return n;
  }
  const parts = t.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (!parts.length || parts.some((p) => !/^\d+$/.test(p))) {
    throw new UserError(`--student-layers "${text}": give a positive layer count (2) or comma-separated teacher layers (0,3)`);
  }
  return parts.map(Number);
}

/**
 * The teacher's graph with only the chosen encoder blocks: embeddings, attention-mask
 * computation and head are kept, each kept block reads the previous kept block's output,
 * nodes and initializers nothing reads any more are dropped. The teacher is not modified;
 * the student shares its (unchanged) initializer objects.
 */
export function deriveStudent(teacher: ModelProto, opts: DeriveStudentOptions): DerivedStudent {
  const label = opts.label ?? 'teacher';
  const source = teacher.graph;
  if (!source) throw new UserError(`${label}: the model has no graph`);
  const model = cloneForEditing(teacher);
  const graph = model.graph!;
  const structure = findEncoderStructure(model, label);
  const total = structure.layers.length;
  const kept = typeof opts.layers === 'number' ? spreadLayers(total, opts.layers) : [...opts.layers];
  if (!kept.length) throw new UserError('--student-layers: keep at least one layer');
  for (const k of kept) {
    if (!Number.isInteger(k) || k < 0 || k >= total) throw new UserError(`--student-layers: layer ${k} does not exist (the teacher has layers 0-${total - 1})`);
  }
  for (let i = 1; i < kept.length; i++) {
    if (kept[i]! <= kept[i - 1]!) throw new UserError(`--student-layers: list the layers in increasing order without repeats, got ${kept.join(',')}`);
  }

  // What each block's stream value becomes: a dropped block's output is the last kept output before it.
  const replacement = new Map<string, string>();
  let stream = structure.embeddingOutput;
  const keptSet = new Set(kept);
  structure.layers.forEach((layer, i) => {
    if (keptSet.has(i)) {
      if (layer.input !== stream) replacement.set(layer.input, stream);
      stream = layer.output;
    } else {
      replacement.set(layer.output, stream);
    }
  });
  const droppedNodes = new Set(structure.layers.filter((_, i) => !keptSet.has(i)).flatMap((l) => l.nodes));
  const rewrite = (v: string) => replacement.get(v) ?? v;
  for (const n of graph.node!) {
    if (droppedNodes.has(n.name ?? '')) continue;
    n.input = n.input!.map((v) => (v ? rewrite(v) : v));
  }
  for (const o of graph.output!) {
    if (replacement.has(o.name ?? '')) throw new UserError(`${label}: graph output "${o.name}" is the output of a dropped encoder block; keep that block`);
  }
  removeDeadNodes(graph);
  const live = new Set(graph.node!.flatMap((n) => n.output ?? []));
  graph.valueInfo = graph.valueInfo!.filter((v) => live.has(v.name ?? ''));
  return { model, keptLayers: kept, teacherLayers: total, structure, configChanges: { num_hidden_layers: kept.length } };
}
