import { basename, resolve } from 'node:path';
import {
  blockQuantizedTensors,
  constantNodeTensor,
  DataType,
  dtypeName,
  elementCount,
  modelBaseDir,
  modelStats,
  tensorByteLength,
  tensorDims,
  tensorToArray,
  tensorToFloat32,
  toNumber,
  valueElemType,
  valueShape,
  type ModelProto,
  type TensorProto,
  type ValueInfoProto,
} from '../onnx/index.js';
import { tensorFloatSource } from '../quantize/float-source.js';
import { findQuantizedTensors } from './quant-params.js';

export interface ValueSummary {
  name: string;
  dtype: string;
  /** Numbers for fixed dims, names for symbolic ones ('?' unknown); null when the rank is unknown. */
  shape: Array<number | string> | null;
}

export interface QuantizedTensorSummary {
  name: string;
  dtype: string;
  shape: number[];
  /** Per tensor a number, per channel one per channel; null when the scale is computed at run time or not found. */
  scale: number | number[] | null;
  zeroPoint: number | number[] | null;
  /** Channel axis (DequantizeLinear's axis) for per-channel parameters, else null. */
  axis: number | null;
  /** Ops reading it. */
  usedBy: string[];
  /**
   * Block-quantized codes (MatMulNBits B, GatherBlockQuantized data): `shape` is the packed
   * uint8 layout, `logicalShape` the weight's; scale and zero point are per block (null above).
   */
  block?: { bits: number; blockSize: number; logicalShape: number[]; zeroPoints: boolean };
}

export interface ModelSummary {
  irVersion: number;
  producer: string;
  producerVersion: string;
  opsets: Array<{ domain: string; version: number }>;
  graphName: string;
  inputs: ValueSummary[];
  outputs: ValueSummary[];
  nodes: number;
  /** Op type (domain-qualified outside the default domain) -> count, most frequent first. */
  opHistogram: Record<string, number>;
  /** Elements of weight tensors (rank >= 1, float or int8; block-quantized ones by their logical shape), quantization scales and zero points excluded. */
  parameters: number;
  initializers: number;
  /** Constant nodes in the main graph holding weights (float or int8, rank >= 1: paddle2onnx/tf2onnx keep weights there); counted in `parameters`. */
  constantNodes: number;
  /** Bytes of those Constant nodes' tensors. */
  constantNodeBytes: number;
  initializerBytes: number;
  initializerBytesByDtype: Record<string, number>;
  /** int8/uint8 weights with their scale and zero point. Empty for a float model. */
  quantized: QuantizedTensorSummary[];
  /** Initializers whose data lives in external files. */
  externalTensors: number;
  metadata: Record<string, string>;
  /** Model-local functions (domain.name[:overload]). */
  functions: string[];
}

export interface InspectOptions {
  /**
   * The file the model came from: scales kept in external data are read relative to it, and
   * tensors loadModelLazy left in the file itself do not count as external data.
   */
  path?: string;
}

/**
 * A typed summary of a model: interface, opsets, op histogram, parameters, bytes by dtype and
 * quantized tensors with their scale/zero point.
 */
export function inspectModel(model: ModelProto, opts: InspectOptions = {}): ModelSummary {
  const source = opts.path ? { baseDir: modelBaseDir(opts.path), label: opts.path } : {};
  const self = opts.path ? basename(resolve(opts.path)) : undefined;
  const g = model.graph ?? {};
  const stats = modelStats(model);
  const inits = new Map((g.initializer ?? []).map((t) => [t.name ?? '', t]));
  const { tensors: quantizedRefs, quantParams } = findQuantizedTensors(g);
  const blocks = blockQuantizedTensors(g);
  // Block scales and (packed) zero points are quantization parameters, not weights or quantized tensors.
  for (const [name, b] of blocks) {
    for (const p of [b.scales, b.zeroPoints]) {
      if (!p) continue;
      quantParams.add(p);
      quantizedRefs.delete(p);
    }
    // int4/uint4-typed codes are not among the int8/uint8 tensors findQuantizedTensors lists.
    if (!quantizedRefs.has(name)) quantizedRefs.set(name, { usedBy: [b.op] });
  }
  const read = (name: string | undefined, kind: 'float' | 'int'): number | number[] | null => {
    const t = name ? inits.get(name) : undefined;
    if (!t) return null;
    try {
      const values = kind === 'float' ? floatValues(t, source) : Array.from(tensorToArray(t), Number);
      return tensorDims(t).length === 0 ? values[0]! : values;
    } catch {
      return null;
    }
  };
  const quantized: QuantizedTensorSummary[] = [...quantizedRefs].map(([name, refs]) => {
    const t = inits.get(name)!;
    const b = blocks.get(name);
    if (b) {
      const block = { bits: b.bits, blockSize: b.blockSize, logicalShape: b.logicalDims, zeroPoints: b.zeroPoints !== undefined };
      return { name, dtype: dtypeName(t.dataType), shape: tensorDims(t), scale: null, zeroPoint: null, axis: null, usedBy: refs.usedBy, block };
    }
    const scale = read(refs.scale, 'float');
    return {
      name,
      dtype: dtypeName(t.dataType),
      shape: tensorDims(t),
      scale,
      zeroPoint: refs.zeroPoint ? read(refs.zeroPoint, 'int') : scale === null ? null : 0,
      axis: Array.isArray(scale) && refs.axis !== undefined ? (refs.axis < 0 ? refs.axis + tensorDims(t).length : refs.axis) : null,
      usedBy: refs.usedBy,
    };
  });
  let parameters = 0;
  const isWeight = (t: TensorProto) =>
    blocks.has(t.name ?? '') ||
    (tensorDims(t).length > 0 &&
      [DataType.FLOAT, DataType.FLOAT16, DataType.BFLOAT16, DataType.DOUBLE, DataType.INT8, DataType.UINT8].includes(t.dataType as 1) &&
      !quantParams.has(t.name ?? ''));
  // Constant nodes holding weights (paddle2onnx, tf2onnx); shape constants and scalars are not parameters.
  const constants = (g.node ?? []).map(constantNodeTensor).filter((t): t is TensorProto => t !== undefined && isWeight(t));
  for (const t of [...(g.initializer ?? []), ...constants]) if (isWeight(t)) parameters += elementCount(blocks.get(t.name ?? '')?.logicalDims ?? tensorDims(t));
  const initializerNames = new Set(inits.keys());
  const histogram = Object.fromEntries(Object.entries(stats.opHistogram).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])));
  return {
    irVersion: toNumber(model.irVersion),
    producer: model.producerName ?? '',
    producerVersion: model.producerVersion ?? '',
    opsets: (model.opsetImport ?? []).map((o) => ({ domain: !o.domain || o.domain === 'ai.onnx' ? 'ai.onnx' : o.domain, version: toNumber(o.version) })),
    graphName: g.name ?? '',
    // Initializers listed as inputs (IR < 4 exporters) are weights, not inputs to feed.
    inputs: (g.input ?? []).filter((v) => !initializerNames.has(v.name ?? '')).map(valueSummary),
    outputs: (g.output ?? []).map(valueSummary),
    nodes: stats.nodes,
    opHistogram: histogram,
    parameters,
    initializers: (g.initializer ?? []).length,
    constantNodes: constants.length,
    constantNodeBytes: constants.reduce((sum, t) => sum + tensorByteLength(t), 0),
    initializerBytes: stats.initializerBytes,
    initializerBytesByDtype: stats.initializerBytesByDtype,
    quantized,
    externalTensors: (g.initializer ?? []).filter((t) => t.dataLocation === 1 && t.externalData?.find((e) => e.key === 'location')?.value !== self).length,
    metadata: Object.fromEntries((model.metadataProps ?? []).map((e) => [e.key ?? '', e.value ?? ''])),
    functions: (model.functions ?? []).map((f) => `${f.domain ? `${f.domain}.` : ''}${f.name}${f.overload ? `:${f.overload}` : ''}`),
  };
}

function valueSummary(v: ValueInfoProto): ValueSummary {
  return { name: v.name ?? '', dtype: dtypeName(valueElemType(v)), shape: valueShape(v) ?? null };
}

function floatValues(t: TensorProto, opts: { baseDir?: string; label?: string }): number[] {
  if (t.dataLocation !== 1) return Array.from(tensorToFloat32(t));
  const out: number[] = [];
  tensorFloatSource(t, opts.baseDir, opts.label ?? 'model').forEachChunk(1, (chunk) => {
    for (const v of chunk) out.push(v);
  });
  return out;
}


