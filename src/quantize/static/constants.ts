import { DataType, dtypeName, elementCount, getAttribute, tensorDims, tensorToFloat32, type GraphProto, type TensorProto } from '../../onnx/index.js';
import type { ConstantWeight } from '../rule.js';

/** Constants of a graph (initializers no graph input overrides, and Constant nodes' `value`). */
export class ConstantLookup {
  private readonly tensors = new Map<string, TensorProto>();
  private readonly graphOutputs: Set<string>;

  constructor(graph: GraphProto) {
    const inputs = new Set((graph.input ?? []).map((v) => v.name ?? ''));
    for (const t of graph.initializer ?? []) if (!inputs.has(t.name ?? '')) this.tensors.set(t.name ?? '', t);
    for (const n of graph.node ?? []) {
      const t = n.opType === 'Constant' && (!n.domain || n.domain === 'ai.onnx') ? getAttribute(n, 'value')?.t : undefined;
      if (t && n.output?.[0]) this.tensors.set(n.output[0], t);
    }
    this.graphOutputs = new Set((graph.output ?? []).map((v) => v.name ?? ''));
  }

  tensor(name: string): TensorProto | undefined {
    return this.tensors.get(name);
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  info(name: string): { dims: number[]; dataType: number } | undefined {
    const t = this.tensors.get(name);
    return t ? { dims: tensorDims(t), dataType: t.dataType ?? 0 } : undefined;
  }

  weight(name: string, minElements: number): ConstantWeight | { skip: string } {
    const tensor = this.tensors.get(name);
    if (!tensor) return { skip: `weight ${name} is not a constant (computed at run time)` };
    if (this.graphOutputs.has(name)) return { skip: `weight ${name} is also a graph output` };
    if (tensor.dataType !== DataType.FLOAT) return { skip: `weight ${name} is ${dtypeName(tensor.dataType)}; only float32 weights are quantized` };
    const dims = tensorDims(tensor);
    const n = elementCount(dims);
    if (n < minElements) return { skip: `weight ${name} is too small (${n} elements < --min-elements ${minElements})` };
    return { tensor, dims };
  }

  /** Values of a small in-memory float constant. */
  values(name: string): Float32Array | undefined {
    const t = this.tensors.get(name);
    if (!t || t.dataLocation === 1 || (t.dataType !== DataType.FLOAT && t.dataType !== DataType.DOUBLE)) return undefined;
    return tensorToFloat32(t);
  }
}
