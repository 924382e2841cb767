import { getAttribute } from './attributes.js';
import { toNumber, toNumbers } from './longs.js';
import { DataType, type AttributeProto, type GraphProto, type ModelProto, type NodeProto, type TensorProto } from './proto.js';
import { makeTensor } from './tensor.js';

/**
 * The tensor a `Constant` node holds (value, or value_float(s) / value_int(s)), named after its
 * output; undefined for sparse and string constants and for nodes that are not Constants.
 */
export function constantNodeTensor(node: NodeProto): TensorProto | undefined {
  if (node.opType !== 'Constant' || (node.domain && node.domain !== 'ai.onnx')) return undefined;
  const name = node.output?.[0];
  if (!name) return undefined;
  const attr = (n: string): AttributeProto | undefined => getAttribute(node, n);
  const value = attr('value')?.t;
  if (value) return value.name === name ? value : { ...value, name };
  const f = attr('value_float');
  if (f) return makeTensor(name, Float32Array.of(f.f ?? 0), []);
  const fs = attr('value_floats');
  if (fs) return makeTensor(name, Float32Array.from(fs.floats ?? []), [(fs.floats ?? []).length]);
  const i = attr('value_int');
  if (i) return makeTensor(name, BigInt64Array.of(BigInt(toNumber(i.i))), [], DataType.INT64);
  const is = attr('value_ints');
  if (is) return makeTensor(name, BigInt64Array.from(toNumbers(is.ints).map(BigInt)), [toNumbers(is.ints).length], DataType.INT64);
  return undefined;
}

/** Element types a weight can have: what hoistConstants moves. */
const weightTypes: ReadonlySet<number> = new Set([DataType.FLOAT, DataType.FLOAT16, DataType.BFLOAT16, DataType.DOUBLE]);

/**
 * The model with the main graph's weight-like `Constant` nodes (float tensors of rank >= 1)
 * moved into initializers: paddle2onnx and tf2onnx exports keep every weight in such nodes, and
 * rules then see one kind of weight. Shape constants and scalars (what PyTorch's exporter puts
 * in Constant nodes) stay as they are, and so do Constants that are graph outputs (an
 * initializer cannot be one in every runtime). The input model is not modified; tensors are
 * shared, not copied. IR < 4 graphs list every initializer as an input, so those move to IR 4.
 */
export function hoistConstants(model: ModelProto): { model: ModelProto; hoisted: number } {
  const graph = model.graph;
  if (!graph) return { model, hoisted: 0 };
  const outputs = new Set((graph.output ?? []).map((o) => o.name ?? ''));
  const moved: TensorProto[] = [];
  const nodes: NodeProto[] = [];
  for (const n of graph.node ?? []) {
    const t = outputs.has(n.output?.[0] ?? '') ? undefined : constantNodeTensor(n);
    if (t && weightTypes.has(t.dataType ?? 0) && (t.dims ?? []).length > 0) moved.push(t);
    else nodes.push(n);
  }
  if (moved.length === 0) return { model, hoisted: 0 };
  const hoistedGraph: GraphProto = { ...graph, node: nodes, initializer: [...(graph.initializer ?? []), ...moved] };
  const irVersion = Math.max(4, toNumber(model.irVersion));
  return { model: { ...model, irVersion, graph: hoistedGraph }, hoisted: moved.length };
}
