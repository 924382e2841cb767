/**
 * Intermediate distillation (TinyBERT's hidden states, MiniLM's last-layer attention): which
 * student and teacher values are compared, found from each graph's encoder structure, and the
 * teacher's values per training batch.
 *
 * The teacher's values come from an onnxruntime session on a copy of the teacher whose graph
 * outputs include them, run on the batch the student trains on (same tokenizer, same padding).
 * They are cached per example (unpadded) only when every example's values fit the memory
 * budget; otherwise they are recomputed for every batch, so memory stays bounded by one batch
 * whatever the size of the training set. Padding positions carry no loss (the attention mask),
 * so a batch assembled from cached rows with zero padding gives the loss of a fresh run.
 */
import { findEncoderStructure, type EncoderStructure } from '../architectures/encoder-structure.js';
import type { HiddenMetric, IntermediateLossSpec } from '../autodiff/intermediate-loss.js';
import type { Batch } from '../data/batching.js';
import type { EncodedExample } from '../data/encode.js';
import { buildFeeds, type FeedPlanEntry } from '../data/feeds.js';
import { UserError } from '../errors.js';
import { DataType, encodeModel, makeValueInfo, type ModelProto } from '../onnx/index.js';
import type { Device } from '../runtime/device.js';
import { openSession, ort } from '../runtime/session.js';

export interface IntermediateOptions {
  /** Hidden-state loss metric (none when undefined). */
  hidden?: HiddenMetric;
  hiddenWeight: number;
  /** Last-layer attention loss. */
  attention: boolean;
  attentionWeight: number;
  /** Teacher layer (0-based) for each student layer; default: the uniform map. */
  layerMap?: readonly number[];
}

export interface IntermediatePlan {
  spec: IntermediateLossSpec;
  /** role -> teacher value name. */
  teacherValues: Map<string, string>;
  /** Teacher layer of each student layer. */
  layerMap: number[];
  /** What is compared, for the log. */
  description: string;
}

/** Student layer i learns from teacher layer round((i + 1) L_t / L_s) - 1 (TinyBERT's uniform map). */
export function uniformLayerMap(studentLayers: number, teacherLayers: number): number[] {
  return Array.from({ length: studentLayers }, (_, i) => Math.max(0, Math.round(((i + 1) * teacherLayers) / studentLayers) - 1));
}

/** Finds the values to compare; the student's mask input is `maskInput` (when it has one). */
export function planIntermediate(
  student: ModelProto,
  teacher: ModelProto,
  o: IntermediateOptions,
  maskInput: string | undefined,
): IntermediatePlan | undefined {
  if (!o.hidden && !o.attention) return undefined;
  const structureOf = (model: ModelProto, who: string): EncoderStructure => {
    try {
      return findEncoderStructure(model);
    } catch (e) {
      if (e instanceof UserError) throw new UserError(`intermediate losses need the encoder blocks of the ${who}: ${e.message}`);
      throw e;
    }
  };
  const s = structureOf(student, 'student');
  const t = structureOf(teacher, 'teacher');
  const layerMap = o.layerMap ? [...o.layerMap] : uniformLayerMap(s.layers.length, t.layers.length);
  if (layerMap.length !== s.layers.length) {
    throw new UserError(`--layer-map: ${layerMap.length} teacher layers given for ${s.layers.length} student layers`);
  }
  for (const l of layerMap) {
    if (!Number.isInteger(l) || l < 0 || l >= t.layers.length) throw new UserError(`--layer-map: teacher layer ${l} does not exist (the teacher has layers 0-${t.layers.length - 1})`);
  }
  const teacherValues = new Map<string, string>();
  const spec: IntermediateLossSpec = { ...(maskInput ? { mask: maskInput } : {}) };
  if (o.hidden) {
    const pairs = [
      { student: s.embeddingOutput, teacher: t.embeddingOutput },
      ...s.layers.map((layer, i) => ({ student: layer.output, teacher: t.layers[layerMap[i]!]!.output })),
    ];
    pairs.forEach((p, k) => teacherValues.set(`hidden:${k}`, p.teacher));
    spec.hidden = {
      metric: o.hidden,
      weight: o.hiddenWeight,
      pairs: pairs.map((p) => ({ student: p.student, studentWidth: s.hiddenSize, teacherWidth: t.hiddenSize })),
    };
  }
  if (o.attention) {
    const sh = s.numHeads;
    const th = t.numHeads;
    if (!sh || !th) throw new UserError(`--attention-loss: the number of attention heads of the ${sh ? 'teacher' : 'student'} could not be found from its graph`);
    teacherValues.set('attention', t.layers.at(-1)!.attentionProbs);
    spec.attention = { weight: o.attentionWeight, student: s.layers.at(-1)!.attentionProbs, studentHeads: sh, teacherHeads: th };
  }
  const description = [
    o.hidden ? `hidden states (${o.hidden}, weight ${o.hiddenWeight}; embeddings and student layers ${layerMap.map((l, i) => `${i}<-${l}`).join(' ')}${s.hiddenSize !== t.hiddenSize ? `; projection ${s.hiddenSize}->${t.hiddenSize}` : ''})` : '',
    o.attention ? `last-layer attention (KL, weight ${o.attentionWeight}${s.numHeads !== t.numHeads ? '; heads averaged' : ''})` : '',
  ]
    .filter(Boolean)
    .join(' + ');
  return { spec, teacherValues, layerMap, description };
}

/** The teacher's intermediate values for training batches. */
export class TeacherIntermediates {
  private readonly cache?: Map<number, Map<string, Float32Array>>;
  /** Whether every example's values fit the budget (and are cached after their first batch). */
  readonly cached: boolean;
  /** Bytes the cache would need for every example. */
  readonly fullCacheBytes: number;

  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly plan: FeedPlanEntry[],
    private readonly values: Map<string, string>,
    private readonly widths: Map<string, number>,
    examples: readonly EncodedExample[],
    budgetBytes: number,
  ) {
    let bytes = 0;
    for (const e of examples) {
      const n = e.ids.length;
      for (const [role, width] of widths) bytes += 4 * (role === 'attention' ? width * n * n : width * n);
    }
    this.fullCacheBytes = bytes;
    this.cached = bytes <= budgetBytes;
    if (this.cached) this.cache = new Map();
  }

  /**
   * Opens the teacher with the planned values as extra outputs. `widths`: per role, the hidden
   * width or (for `attention`) the head count.
   */
  static async open(
    teacher: ModelProto,
    plan: FeedPlanEntry[],
    values: Map<string, string>,
    widths: Map<string, number>,
    examples: readonly EncodedExample[],
    opts: { budgetBytes: number; threads?: number; device?: Device },
  ): Promise<TeacherIntermediates> {
    const graph = teacher.graph!;
    const outputs = [...(graph.output ?? [])];
    for (const v of new Set(values.values())) if (!outputs.some((o) => o.name === v)) outputs.push(makeValueInfo(v, DataType.FLOAT));
    const withOutputs: ModelProto = { ...teacher, graph: { ...graph, output: outputs } };
    const { session } = await openSession(encodeModel(withOutputs), { threads: opts.threads, device: opts.device });
    return new TeacherIntermediates(session, plan, values, widths, examples, opts.budgetBytes);
  }

  /** Values by role for a batch; `examples` are the example indices of its rows. */
  async forBatch(batch: Batch, examples: readonly number[], label = 'teacher'): Promise<Record<string, ort.Tensor>> {
    const roles = [...this.values.keys()];
    if (this.cache && examples.every((i) => this.cache!.has(i))) return this.assemble(batch, examples, roles);
    const names = [...new Set(this.values.values())];
    const out = await this.session.run(buildFeeds(this.plan, batch, label), names);
    const result: Record<string, ort.Tensor> = {};
    for (const role of roles) {
      const t = out[this.values.get(role)!]!;
      result[role] = t;
      if (this.cache) this.store(t, role, batch, examples);
    }
    return result;
  }

  private store(t: ort.Tensor, role: string, batch: Batch, examples: readonly number[]): void {
    const data = t.data as Float32Array;
    const S = batch.seqLength;
    const w = this.widths.get(role)!;
    examples.forEach((ex, r) => {
      let n = 0;
      for (let j = 0; j < S; j++) if (batch.attentionMask[r * S + j]) n = j + 1;
      let row: Float32Array;
      if (role === 'attention') {
        row = new Float32Array(w * n * n);
        for (let h = 0; h < w; h++) for (let i = 0; i < n; i++) row.set(data.subarray(((r * w + h) * S + i) * S, ((r * w + h) * S + i) * S + n), (h * n + i) * n);
      } else {
        row = data.slice(r * S * w, (r * S + n) * w);
      }
      let entry = this.cache!.get(ex);
      if (!entry) this.cache!.set(ex, (entry = new Map()));
      entry.set(role, row);
    });
  }

  private assemble(batch: Batch, examples: readonly number[], roles: string[]): Record<string, ort.Tensor> {
    const B = batch.size;
    const S = batch.seqLength;
    const result: Record<string, ort.Tensor> = {};
    for (const role of roles) {
      const w = this.widths.get(role)!;
      if (role === 'attention') {
        const data = new Float32Array(B * w * S * S);
        examples.forEach((ex, r) => {
          const row = this.cache!.get(ex)!.get(role)!;
          const n = Math.round(Math.sqrt(row.length / w));
          for (let h = 0; h < w; h++) for (let i = 0; i < n; i++) data.set(row.subarray((h * n + i) * n, (h * n + i + 1) * n), ((r * w + h) * S + i) * S);
        });
        result[role] = new ort.Tensor('float32', data, [B, w, S, S]);
      } else {
        const data = new Float32Array(B * S * w);
        examples.forEach((ex, r) => data.set(this.cache!.get(ex)!.get(role)!, r * S * w));
        result[role] = new ort.Tensor('float32', data, [B, S, w]);
      }
    }
    return result;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
