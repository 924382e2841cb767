import { UserError } from '../../errors.js';
import {
  DataType,
  elementCount,
  makeAttribute,
  NameAllocator,
  nodeInputs,
  tensorDims,
  tensorToFloat32,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
} from '../../onnx/index.js';
import { toHalfArray } from './half.js';
import { inferElemTypes, TYPE_FOLLOWING_OPS } from './types.js';

const FLOAT = DataType.FLOAT;
const HALF = DataType.FLOAT16;

/**
 * Ops with a float16 kernel in onnxruntime 1.30's CPU provider (measured: a one-node float16
 * model per op, counting the Casts onnxruntime's session inserts for ops it has no float16
 * kernel for; test/quantize-fp16.test.ts re-checks a sample). Everything else on the CPU
 * provider runs float32 behind Casts onnxruntime adds itself, slower than float32 throughout.
 */
export const FP16_CPU_KERNEL_OPS: readonly string[] = [
  'LayerNormalization', 'SkipLayerNormalization', 'Gather', 'Reshape', 'Transpose', 'Concat', 'Slice', 'Split', 'Unsqueeze', 'Squeeze',
  'Expand', 'Identity', 'Shape', 'Cast', 'Max', 'Clip', 'MatMulNBits', 'GatherBlockQuantized', 'Size',
];

/**
 * Ops that lose accuracy in float16 (squares and exponentials overflow 65504, long sums and
 * roots of small variances lose digits) or need float32 inputs by their schema: kept float32
 * for every target (onnxconverter-common's default block list, plus decomposed LayerNorm's
 * Pow/ReduceMean/Sqrt).
 */
export const FP16_ACCURACY_KEEP: readonly string[] = [
  'Pow', 'ReduceMean', 'ReduceSum', 'ReduceSumSquare', 'ReduceL2', 'ReduceProd', 'Sqrt', 'Reciprocal', 'Exp', 'Log', 'Softplus', 'CumSum',
  'Range', 'Resize', 'Upsample', 'RoiAlign', 'NonMaxSuppression', 'TopK', 'RandomNormal', 'RandomNormalLike', 'RandomUniform',
  'RandomUniformLike', 'Multinomial', 'DynamicQuantizeLinear', 'QuantizeLinear', 'DequantizeLinear', 'MatMulInteger',
  'MatMulIntegerToFloat', 'DynamicQuantizeMatMul',
];

/** Ops that only move, select or reshape data: a float16 region made of them alone gains nothing. */
const DATA_MOVEMENT = new Set([
  'Reshape', 'Transpose', 'Squeeze', 'Unsqueeze', 'Flatten', 'Identity', 'Concat', 'Slice', 'Split', 'Expand', 'Tile', 'Gather',
  'GatherElements', 'GatherND', 'Cast', 'Shape', 'Size', 'Dropout', 'Pad', 'Where', 'DepthToSpace', 'SpaceToDepth', 'ConstantOfShape',
]);

/**
 * `cpu`: float16 only where onnxruntime's CPU provider has a float16 kernel (FP16_CPU_KERNEL_OPS);
 * `any`: every op but the accuracy list, for providers with float16 kernels throughout (WebGPU, CUDA).
 */
export type Fp16Target = 'cpu' | 'any';
export const fp16Targets: readonly Fp16Target[] = ['cpu', 'any'];

export interface Fp16Options {
  target?: Fp16Target;
  /** More op types to keep in float32. */
  keepFloat32?: readonly string[];
  /**
   * A float32 weight read only by float32 nodes is still stored float16 (a Cast to float32 that
   * onnxruntime folds at load) when it has at least this many elements. Default 1024.
   */
  minElements?: number;
  /** Float graph inputs and outputs become float16 too (default false: they stay float32, Casts at the edges). */
  halfIo?: boolean;
}

export interface Fp16Report {
  target: Fp16Target;
  /** Nodes computing in float16, and float nodes kept float32 grouped by op type and reason. */
  halfNodes: number;
  keptFloat32: Array<{ opType: string; count: number; reason: string }>;
  /** Cast nodes added between activations (graph edges included), and for weights read in float32. */
  casts: { activations: number; weights: number };
  /** Float tensors stored float16, and values clamped to +-65504 in them. */
  tensorsConverted: number;
  clamped: number;
}

type Precision = 'half' | 'single' | 'none';

/**
 * Converts a float32 model to float16 weights and, where the target allows, float16 compute.
 * Graph inputs and outputs stay float32 (Casts at the edges). Only the top-level graph is
 * converted: a node with subgraphs stays float32.
 */
export function convertToFloat16(model: ModelProto, options: Fp16Options = {}): { model: ModelProto; report: Fp16Report } {
  const target = options.target ?? 'cpu';
  if (!fp16Targets.includes(target)) throw new UserError(`--fp16-target ${target}: expected ${fp16Targets.join(' or ')}`);
  const minElements = options.minElements ?? 1024;
  const src = model.graph;
  if (!src) throw new UserError('model has no graph');
  // Float Constant nodes become initializers: one code path for every constant.
  const constants = new Map<string, TensorProto>();
  for (const t of src.initializer ?? []) if (t.name) constants.set(t.name, t);
  const nodes: NodeProto[] = [];
  for (const n of src.node ?? []) {
    const t = n.opType === 'Constant' && !n.domain ? n.attribute?.find((a) => a.name === 'value')?.t : undefined;
    if (t && t.dataType === FLOAT && n.output?.[0]) constants.set(n.output[0], { ...t, name: n.output[0] });
    else nodes.push(n);
  }
  const graph: GraphProto = { ...src, node: nodes, initializer: [...constants.values()] };
  const types = inferElemTypes(graph);
  const graphInputs = new Set((src.input ?? []).map((v) => v.name ?? ''));
  const isFloat = (v: string | undefined) => !!v && types.get(v) === FLOAT;

  // 1. Which nodes may compute in float16.
  const allowed = new Set(target === 'cpu' ? FP16_CPU_KERNEL_OPS : TYPE_FOLLOWING_OPS);
  const keep = new Set([...FP16_ACCURACY_KEEP, ...(options.keepFloat32 ?? [])]);
  const precision: Precision[] = [];
  const keptReasons = new Map<string, { opType: string; count: number; reason: string }>();
  const keepAs = (op: string, reason: string) => {
    const key = `${op}|${reason}`;
    const e = keptReasons.get(key) ?? { opType: op, count: 0, reason };
    e.count++;
    keptReasons.set(key, e);
    return 'single' as const;
  };
  for (const n of nodes) {
    const op = n.opType ?? '';
    const floaty = [...(n.input ?? []), ...(n.output ?? [])].some(isFloat);
    const msOk = !n.domain || n.domain === 'ai.onnx' || n.domain === 'com.microsoft';
    if (!floaty) precision.push('none');
    else if (n.attribute?.some((a) => a.g || a.graphs?.length)) precision.push(keepAs(op, 'has subgraphs (only the top-level graph is converted)'));
    else if (!msOk || !TYPE_FOLLOWING_OPS.has(op)) precision.push(keepAs(op, 'not known to take float16 here'));
    else if ((options.keepFloat32 ?? []).includes(op)) precision.push(keepAs(op, 'kept by --fp16-keep'));
    else if (keep.has(op)) precision.push(keepAs(op, 'loses accuracy in float16'));
    else if (!allowed.has(op)) precision.push(keepAs(op, "no float16 kernel in onnxruntime 1.30's CPU provider"));
    else precision.push('half');
  }

  // 2. Fewer Casts: a float16 region that only moves data and still needs Casts at its edges
  // gains nothing from float16; it goes back to float32 (as a whole, so no Cast pair is left).
  const producerIdx = new Map<string, number>();
  nodes.forEach((n, i) => (n.output ?? []).forEach((o) => o && producerIdx.set(o, i)));
  const consumers = new Map<string, number[]>();
  nodes.forEach((n, i) => new Set(nodeInputs(n)).forEach((v) => consumers.set(v, [...(consumers.get(v) ?? []), i])));
  const graphOutputs = new Set((src.output ?? []).map((v) => v.name ?? ''));
  for (const component of halfComponents(nodes, precision, consumers, isFloat)) {
    if (!component.every((i) => DATA_MOVEMENT.has(nodes[i]!.opType!))) continue;
    const inside = new Set(component);
    const edges = component.some((i) => {
      const n = nodes[i]!;
      const fromOutside = (n.input ?? []).some((v) => isFloat(v) && !constants.has(v) && !inside.has(producerIdx.get(v) ?? -1));
      const toOutside = (n.output ?? []).some((v) => isFloat(v) && (graphOutputs.has(v) || (consumers.get(v) ?? []).some((c) => !inside.has(c) && precision[c] === 'single')));
      return fromOutside || toOutside;
    });
    if (edges) for (const i of component) precision[i] = 'single';
  }

  // 3. Rewrite: converted constants, Casts where a value's producer and reader disagree.
  const names = new NameAllocator(src);
  const halfIo = options.halfIo ?? false;
  const producedHalf = (v: string) => {
    if (halfIo && graphInputs.has(v) && isFloat(v)) return true;
    const p = producerIdx.get(v);
    if (p === undefined || precision[p] !== 'half' || !isFloat(v)) return false;
    const n = nodes[p]!;
    return !(n.opType === 'LayerNormalization' && n.output!.indexOf(v) > 0); // Mean/InvStdDev stay float
  };
  const wantsHalf = (i: number, v: string) => precision[i] === 'half' && isFloat(v);
  const report: Fp16Report = { target, halfNodes: precision.filter((p) => p === 'half').length, keptFloat32: [...keptReasons.values()].sort((a, b) => b.count - a.count), casts: { activations: 0, weights: 0 }, tensorsConverted: 0, clamped: 0 };
  const castNode = (input: string, output: string, to: number): NodeProto => ({ name: names.take(`${output}_Cast`), opType: 'Cast', input: [input], output: [output], attribute: [makeAttribute('to', to)] });

  // Constants: float16 copy for float16 readers; float32 readers get the original, or a Cast of
  // the float16 copy when the tensor is big enough for its bytes to matter.
  const initializers: TensorProto[] = [];
  const renameHalf = new Map<string, string>(); // constant -> name of its float16 version
  const headCasts: NodeProto[] = [];
  const half = (t: TensorProto, name: string): TensorProto => {
    const { bits, clamped } = toHalfArray(tensorToFloat32(t));
    report.clamped += clamped;
    report.tensorsConverted++;
    return { name, dataType: HALF, dims: t.dims, rawData: new Uint8Array(bits.buffer, bits.byteOffset, bits.byteLength), ...(t.docString ? { docString: t.docString } : {}) };
  };
  for (const [name, t] of constants) {
    const readers = consumers.get(name) ?? [];
    if (t.dataType !== FLOAT || graphInputs.has(name) || graphOutputs.has(name)) {
      initializers.push(t);
      continue;
    }
    const halfReaders = readers.some((i) => wantsHalf(i, name));
    const singleReaders = readers.some((i) => !wantsHalf(i, name));
    const big = elementCount(tensorDims(t)) >= minElements;
    if (halfReaders && !singleReaders) {
      initializers.push(half(t, name));
    } else if (!halfReaders) {
      if (big) {
        const h = names.take(`${name}_fp16`);
        initializers.push(half(t, h));
        headCasts.push(castNode(h, name, FLOAT));
        report.casts.weights++;
      } else initializers.push(t);
    } else {
      const h = names.take(`${name}_fp16`);
      initializers.push(half(t, h));
      renameHalf.set(name, h);
      if (big) {
        headCasts.push(castNode(h, name, FLOAT));
        report.casts.weights++;
      } else initializers.push(t);
    }
  }

  // A graph output produced in the other type than it is declared: the node writes
  // `<name>_fp16` (`_fp32`), a Cast writes `<name>`.
  const outputRename = new Map<string, string>();
  for (const v of graphOutputs) {
    if (!isFloat(v) || constants.has(v) || graphInputs.has(v)) continue;
    const isHalf = producedHalf(v);
    if (isHalf !== halfIo) outputRename.set(v, names.take(`${v}_${isHalf ? 'fp16' : 'fp32'}`));
  }
  const halfName = new Map<string, string>(); // float32 value -> its float16 Cast
  const singleName = new Map<string, string>(); // float16 value -> its float32 Cast
  const out: NodeProto[] = [...headCasts];
  const castsAfter = (v: string): NodeProto[] => {
    const made: NodeProto[] = [];
    const readers = consumers.get(v) ?? [];
    const isHalf = producedHalf(v);
    const stored = outputRename.get(v) ?? v;
    const edge = outputRename.has(v);
    if (isHalf && (readers.some((i) => !wantsHalf(i, v)) || edge)) {
      const name = edge ? v : names.take(`${v}_fp32`);
      singleName.set(v, name);
      made.push(castNode(stored, name, FLOAT));
    }
    if (!isHalf && isFloat(v) && (readers.some((i) => wantsHalf(i, v)) || edge)) {
      const name = edge ? v : names.take(`${v}_fp16`);
      halfName.set(v, name);
      made.push(castNode(stored, name, HALF));
    }
    report.casts.activations += made.length;
    return made;
  };
  for (const v of src.input ?? []) if (v.name && !constants.has(v.name)) out.push(...castsAfter(v.name));
  nodes.forEach((n, i) => {
    const rewired: NodeProto = { ...n };
    rewired.input = (n.input ?? []).map((v) => {
      if (!v || !isFloat(v)) return v;
      const wantHalf = wantsHalf(i, v);
      if (constants.has(v)) return wantHalf ? (renameHalf.get(v) ?? v) : v;
      const isHalf = producedHalf(v);
      if (wantHalf === isHalf) return outputRename.get(v) ?? v;
      return wantHalf ? halfName.get(v)! : singleName.get(v)!;
    });
    if (n.output?.some((o) => outputRename.has(o))) rewired.output = n.output.map((o) => outputRename.get(o) ?? o);
    if (precision[i] === 'half') rewired.attribute = halfAttributes(n, report);
    out.push(rewired);
    for (const o of n.output ?? []) if (o) out.push(...castsAfter(o));
  });

  const halfValues = new Set([...producerIdx.keys()].filter(producedHalf));
  const valueInfo = src.valueInfo?.map((v) => {
    if (!v.name) return v;
    if (outputRename.has(v.name)) return retype(v, halfIo ? HALF : FLOAT); // the edge Cast's output
    return halfValues.has(v.name) ? retype(v, HALF) : v;
  });
  const newGraph: GraphProto = { ...src, node: out, initializer: initializers };
  if (halfIo) {
    const io = (list: GraphProto['input']) => list?.map((v) => (v.name && isFloat(v.name) && !constants.has(v.name) ? retype(v, HALF) : v));
    newGraph.input = io(src.input);
    newGraph.output = io(src.output);
  }
  if (valueInfo) newGraph.valueInfo = valueInfo;
  return { model: { ...model, graph: newGraph }, report };
}

/** Attributes of a node moved to float16: Cast targets and ConstantOfShape values follow. */
function halfAttributes(n: NodeProto, report: Fp16Report): NodeProto['attribute'] {
  return (n.attribute ?? []).map((a) => {
    if (n.opType === 'Cast' && a.name === 'to' && Number(a.i) === FLOAT) return makeAttribute('to', HALF);
    if (n.opType === 'ConstantOfShape' && a.name === 'value' && a.t?.dataType === FLOAT) {
      const { bits, clamped } = toHalfArray(tensorToFloat32(a.t));
      report.clamped += clamped;
      return { ...a, t: { ...a.t, dataType: HALF, floatData: [], rawData: new Uint8Array(bits.buffer) } };
    }
    return a;
  });
}

function retype<T extends { type?: { tensorType?: { elemType?: number | null } | null } | null }>(v: T, elemType: number): T {
  return { ...v, type: { ...v.type, tensorType: { ...v.type?.tensorType, elemType } } };
}

/** Connected groups of float16 nodes (linked by float values one writes and another reads). */
function halfComponents(nodes: NodeProto[], precision: Precision[], consumers: Map<string, number[]>, isFloat: (v: string) => boolean): number[][] {
  const parent = nodes.map((_, i) => i);
  const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i]!)));
  nodes.forEach((n, i) => {
    if (precision[i] !== 'half') return;
    for (const v of n.output ?? []) {
      if (!isFloat(v)) continue;
      for (const c of consumers.get(v) ?? []) if (precision[c] === 'half') parent[find(c)] = find(i);
    }
  });
  const groups = new Map<number, number[]>();
  nodes.forEach((_, i) => {
    if (precision[i] !== 'half') return;
    const r = find(i);
    groups.set(r, [...(groups.get(r) ?? []), i]);
  });
  return [...groups.values()];
}
