import { makeAttribute, type AttributeValue } from './attributes.js';
import { NameAllocator } from './graph.js';
import { DataType, type GraphProto, type ModelProto, type NodeProto, type ValueInfoProto } from './proto.js';
import { makeTensor, type TypedArray } from './tensor.js';

export type Dim = number | string;

export interface NodeOptions {
  attrs?: Record<string, AttributeValue | undefined>;
  /** Number of outputs (named automatically) or explicit output names. Default 1. */
  outputs?: number | string[];
  name?: string;
  domain?: string;
}

export function makeValueInfo(name: string, elemType: number, shape?: readonly Dim[]): ValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        ...(shape
          ? { shape: { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } }
          : {}),
      },
    },
  };
}

/**
 * Builds ONNX graphs in code: tests make their fixtures with it, `distill --student-config`
 * makes fresh students, autodiff appends backward nodes through it. Every name it hands out
 * is unique within the graph.
 */
export class GraphBuilder {
  readonly graph: GraphProto;
  readonly names: NameAllocator;
  readonly opsets: Map<string, number>;

  constructor(opts: { name?: string; opset?: number; graph?: GraphProto; opsets?: Record<string, number> } = {}) {
    this.graph = opts.graph ?? { name: opts.name ?? 'graph', node: [], initializer: [], input: [], output: [], valueInfo: [] };
    this.graph.node ??= [];
    this.graph.initializer ??= [];
    this.graph.input ??= [];
    this.graph.output ??= [];
    this.names = new NameAllocator(this.graph);
    this.opsets = new Map(Object.entries({ '': opts.opset ?? 17, ...(opts.opsets ?? {}) }));
  }

  /** Wraps an existing model's graph to append to it. */
  static extend(model: ModelProto): GraphBuilder {
    const b = new GraphBuilder({ graph: model.graph! });
    for (const o of model.opsetImport ?? []) b.opsets.set(o.domain ?? '', Number(o.version ?? 0));
    return b;
  }

  get opset(): number {
    return this.opsets.get('') ?? 17;
  }

  input(name: string, elemType: number, shape?: readonly Dim[]): string {
    this.names.reserve(name);
    this.graph.input!.push(makeValueInfo(name, elemType, shape));
    return name;
  }

  output(name: string, elemType: number = DataType.FLOAT, shape?: readonly Dim[]): string {
    this.graph.output!.push(makeValueInfo(name, elemType, shape));
    return name;
  }

  /** Adds an initializer under a unique name derived from `name` and returns that name. */
  initializer(name: string, data: TypedArray, dims: readonly number[], dataType?: number): string {
    const unique = this.names.take(name);
    this.graph.initializer!.push(makeTensor(unique, data, dims, dataType));
    return unique;
  }

  /** A constant as an initializer (cheaper to read back than Constant nodes). */
  constant(data: TypedArray | number[], dims?: readonly number[], base = 'const'): string {
    const arr = Array.isArray(data) ? Float32Array.from(data) : data;
    return this.initializer(base, arr, dims ?? [arr.length]);
  }

  int64(values: readonly number[], dims?: readonly number[], base = 'const_i64'): string {
    return this.initializer(base, BigInt64Array.from(values.map(BigInt)), dims ?? [values.length]);
  }

  scalar(value: number, base = 'const_scalar', dataType: number = DataType.FLOAT): string {
    const arr = dataType === DataType.INT64 ? BigInt64Array.of(BigInt(value)) : dataType === DataType.DOUBLE ? Float64Array.of(value) : Float32Array.of(value);
    return this.initializer(base, arr, []);
  }

  /** Appends a node; returns its output names. */
  node(opType: string, inputs: readonly string[], opts: NodeOptions = {}): string[] {
    const nodeName = this.names.take(opts.name ?? opType);
    const outputs =
      Array.isArray(opts.outputs)
        ? opts.outputs.map((o) => (o === '' ? '' : (this.names.reserve(o), o)))
        : Array.from({ length: opts.outputs ?? 1 }, (_, k) => this.names.take(`${nodeName}_out${k === 0 ? '' : k}`));
    const node: NodeProto = { input: [...inputs], output: outputs, name: nodeName, opType };
    if (opts.domain) {
      node.domain = opts.domain;
      if (!this.opsets.has(opts.domain)) this.opsets.set(opts.domain, 1);
    }
    const attrs = Object.entries(opts.attrs ?? {}).filter(([, v]) => v !== undefined) as [string, AttributeValue][];
    if (attrs.length) node.attribute = attrs.map(([k, v]) => makeAttribute(k, v));
    this.graph.node!.push(node);
    return outputs;
  }

  /** Single-output node. */
  op(opType: string, inputs: readonly string[], attrs?: NodeOptions['attrs'], opts: Omit<NodeOptions, 'attrs'> = {}): string {
    return this.node(opType, inputs, { ...opts, attrs })[0]!;
  }

  /** The finished model (IR 8 for opset <= 17 so older onnxruntime builds load it too). */
  build(opts: { producerName?: string; irVersion?: number } = {}): ModelProto {
    const opsetImport = [...this.opsets.entries()].map(([domain, version]) => (domain ? { domain, version } : { version }));
    return {
      irVersion: opts.irVersion ?? (this.opset <= 17 ? 8 : 9),
      producerName: opts.producerName ?? 'onnx-distillery',
      opsetImport,
      graph: this.graph,
    };
  }
}
