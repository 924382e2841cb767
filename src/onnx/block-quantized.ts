import { attrInt } from './attributes.js';
import { DataType, type GraphProto, type NodeProto, type TensorProto } from './proto.js';
import { tensorDims } from './tensor.js';

/** A block-quantized weight: packed codes read by com.microsoft.MatMulNBits or GatherBlockQuantized. */
export interface BlockQuantizedTensor {
  /** The op reading it, domain-qualified. */
  op: string;
  bits: number;
  blockSize: number;
  /**
   * Shape of the float weight the codes stand for, not of the packed bytes: [N, K] for
   * MatMulNBits's B (one row per output, from the op's N and K), the unpacked table for
   * GatherBlockQuantized.
   */
  logicalDims: number[];
  /** Names of the scale and zero point inputs (zero points are packed too, below 8 bits). */
  scales?: string;
  zeroPoints?: string;
}

const MS = 'com.microsoft';

/**
 * The initializers that com.microsoft.MatMulNBits (input B) and GatherBlockQuantized (data)
 * read as packed block-quantized codes. Their stored uint8 shape holds 8 / bits codes per byte
 * (MatMulNBits: [N, k_blocks, blob_bytes]), so element counts of the stored tensor are not the
 * weight's size.
 */
export function blockQuantizedTensors(graph: GraphProto): Map<string, BlockQuantizedTensor> {
  const inits = new Map((graph.initializer ?? []).map((t) => [t.name ?? '', t]));
  const out = new Map<string, BlockQuantizedTensor>();
  for (const n of graph.node ?? []) {
    if (n.domain !== MS) continue;
    const found = n.opType === 'MatMulNBits' ? matMulNBits(n) : n.opType === 'GatherBlockQuantized' ? gatherBlock(n, inits.get(n.input?.[0] ?? '')) : undefined;
    if (!found || !inits.has(found.name) || out.has(found.name)) continue;
    const { name, ...entry } = found;
    out.set(name, entry);
  }
  return out;
}

type Found = BlockQuantizedTensor & { name: string };

const optional = (n: NodeProto, i: number) => n.input?.[i] || undefined;

function matMulNBits(n: NodeProto): Found | undefined {
  const name = n.input?.[1];
  const k = attrInt(n, 'K');
  const nOut = attrInt(n, 'N');
  if (!name || k === undefined || nOut === undefined) return undefined;
  return {
    name,
    op: `${MS}.MatMulNBits`,
    bits: attrInt(n, 'bits', 4),
    blockSize: attrInt(n, 'block_size', 0),
    logicalDims: [nOut, k],
    scales: optional(n, 2),
    zeroPoints: optional(n, 3),
  };
}

function gatherBlock(n: NodeProto, data: TensorProto | undefined): Found | undefined {
  const name = n.input?.[0];
  if (!name || !data) return undefined;
  const bits = attrInt(n, 'bits', 4);
  const dims = tensorDims(data);
  const axis = attrInt(n, 'quantize_axis', 1);
  const logicalDims = [...dims];
  const a = axis < 0 ? axis + dims.length : axis;
  // uint8 data packs 8 / bits codes per byte along the quantized axis; int4/uint4 data is stored unpacked in its shape.
  if (data.dataType === DataType.UINT8 && a >= 0 && a < dims.length) logicalDims[a] = (dims[a]! * 8) / bits;
  return { name, op: `${MS}.GatherBlockQuantized`, bits, blockSize: attrInt(n, 'block_size', 128), logicalDims, scales: optional(n, 2), zeroPoints: optional(n, 3) };
}
