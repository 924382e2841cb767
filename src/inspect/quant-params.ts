import { attrInt, consumersOf, DataType, initializersOf, producersOf, type GraphProto, type NodeProto, type TensorProto } from '../onnx/index.js';

/** Where an op keeps the scale and zero point of a quantized input: input index -> [scale index, zero point index]. */
const QUANT_INPUTS: Record<string, Record<number, [number | undefined, number | undefined]>> = {
  DequantizeLinear: { 0: [1, 2] },
  QuantizeLinear: {},
  MatMulInteger: { 0: [undefined, 2], 1: [undefined, 3] },
  ConvInteger: { 0: [undefined, 2], 1: [undefined, 3] },
  'com.microsoft.MatMulIntegerToFloat': { 0: [2, 4], 1: [3, 5] },
  'com.microsoft.DynamicQuantizeMatMul': { 1: [2, 3] },
  QLinearMatMul: { 0: [1, 2], 3: [4, 5] },
  QLinearConv: { 0: [1, 2], 3: [4, 5] },
  'com.microsoft.QGemm': { 0: [1, 2], 3: [4, 5] },
  'com.microsoft.QAttention': { 0: [3, 6], 1: [4, 7] },
};

/** Ops that move int8 values around unchanged, so the scale comes from a DequantizeLinear after them. */
const PASS_THROUGH = new Set(['Gather', 'Reshape', 'Transpose', 'Squeeze', 'Unsqueeze', 'Slice', 'Flatten', 'Identity']);

export interface QuantParamRefs {
  /** Initializer names (or computed values) of the scale and zero point, when found. */
  scale?: string;
  zeroPoint?: string;
  /** The per-channel axis if the parameters are vectors (may be negative). */
  axis?: number;
  /** Ops reading the tensor (op type, domain-qualified). */
  usedBy: string[];
}

const opKey = (n: NodeProto) => (n.domain && n.domain !== 'ai.onnx' ? `${n.domain}.${n.opType}` : (n.opType ?? ''));

/**
 * For each int8/uint8 initializer that holds quantized values (not a zero point), where its
 * scale and zero point are: read from the op consuming it, through pass-through ops (Gather on
 * an int8 embedding table, then DequantizeLinear), or, for MatMulInteger, from the float Mul
 * after the Cast that onnxruntime's IntegerOps layout puts there.
 */
export function findQuantizedTensors(graph: GraphProto): { tensors: Map<string, QuantParamRefs>; quantParams: Set<string> } {
  const g: GraphIndex = { inits: initializersOf(graph), consumers: consumersOf(graph), producers: producersOf(graph) };
  const consumers = g.consumers;
  const zeroPointNames = new Set<string>();
  const scaleNames = new Set<string>();
  for (const n of graph.node ?? []) {
    for (const [scaleIdx, zpIdx] of Object.values(QUANT_INPUTS[opKey(n)] ?? {})) {
      if (zpIdx !== undefined && n.input?.[zpIdx]) zeroPointNames.add(n.input[zpIdx]!);
      if (scaleIdx !== undefined && n.input?.[scaleIdx]) scaleNames.add(n.input[scaleIdx]!);
    }
    if (opKey(n) === 'QuantizeLinear' && n.input?.[2]) zeroPointNames.add(n.input[2]!);
  }
  const result = new Map<string, QuantParamRefs>();
  for (const t of graph.initializer ?? []) {
    const name = t.name ?? '';
    if ((t.dataType !== DataType.INT8 && t.dataType !== DataType.UINT8) || zeroPointNames.has(name)) continue;
    const readers = consumers.get(name) ?? [];
    const refs: QuantParamRefs = { usedBy: readers.map(opKey) };
    for (const n of readers) {
      Object.assign(refs, paramsFor(n, name, g) ?? {});
      if (refs.scale || refs.zeroPoint) break;
    }
    result.set(name, refs);
  }
  for (const refs of result.values()) {
    if (refs.scale) scaleNames.add(refs.scale);
  }
  return { tensors: result, quantParams: new Set([...zeroPointNames, ...scaleNames]) };
}

interface GraphIndex {
  inits: Map<string, TensorProto>;
  consumers: Map<string, NodeProto[]>;
  producers: Map<string, NodeProto>;
}

function paramsFor(n: NodeProto, value: string, g: GraphIndex, depth = 0): Omit<QuantParamRefs, 'usedBy'> | undefined {
  const slots = QUANT_INPUTS[opKey(n)];
  const idx = (n.input ?? []).indexOf(value);
  if (slots && slots[idx]) {
    const [scaleIdx, zpIdx] = slots[idx]!;
    const out: Omit<QuantParamRefs, 'usedBy'> = {};
    if (zpIdx !== undefined && n.input?.[zpIdx]) out.zeroPoint = n.input[zpIdx];
    if (scaleIdx !== undefined && n.input?.[scaleIdx]) out.scale = n.input[scaleIdx];
    if (opKey(n) === 'DequantizeLinear') out.axis = attrInt(n, 'axis', 1);
    // Matrix ops quantize their right-hand side per column: the last axis.
    else if (idx > 0) out.axis = -1;
    if (opKey(n) === 'MatMulInteger' && idx === 1) out.scale = integerMatMulScale(n, g);
    return out;
  }
  if (depth < 3 && PASS_THROUGH.has(opKey(n)) && n.input?.[0] === value) {
    for (const next of g.consumers.get(n.output?.[0] ?? '') ?? []) {
      const found = paramsFor(next, n.output![0]!, g, depth + 1);
      if (found) return found;
    }
  }
  return undefined;
}

/** MatMulInteger -> Cast -> Mul(x, Mul(a_scale, b_scale)): the constant factor is B's scale. */
function integerMatMulScale(n: NodeProto, g: GraphIndex): string | undefined {
  for (const cast of g.consumers.get(n.output?.[0] ?? '') ?? []) {
    if (cast.opType !== 'Cast') continue;
    for (const mul of g.consumers.get(cast.output?.[0] ?? '') ?? []) {
      if (mul.opType !== 'Mul') continue;
      const other = mul.input?.find((i) => i !== cast.output![0]);
      if (!other) continue;
      if (g.inits.has(other)) return other;
      const producer = g.producers.get(other);
      const constant = producer?.opType === 'Mul' ? producer.input?.find((i) => g.inits.has(i)) : undefined;
      if (constant) return constant;
    }
  }
  return undefined;
}
