import { attrInt, attrTensor, DataType, valueElemType, type GraphProto, type NodeProto } from '../../onnx/index.js';

const BOOL_OUT = new Set(['Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'Not', 'And', 'Or', 'Xor', 'IsNaN', 'IsInf']);
const INT64_OUT = new Set(['Shape', 'Size', 'NonZero', 'ArgMax', 'ArgMin']);

/**
 * Ops whose float outputs follow their inputs' float type (T in the schema), so the same node
 * can run in float16 once its float inputs are float16. Anything else is kept float32.
 */
export const TYPE_FOLLOWING_OPS = new Set([
  'Add', 'Sub', 'Mul', 'Div', 'Pow', 'Sqrt', 'Reciprocal', 'Exp', 'Log', 'Erf', 'Tanh', 'Sigmoid', 'Relu', 'LeakyRelu', 'Elu',
  'HardSigmoid', 'HardSwish', 'Softplus', 'Abs', 'Neg', 'Sin', 'Cos', 'Floor', 'Ceil', 'Round', 'Sign', 'Min', 'Max', 'Mean', 'Sum', 'Clip',
  'ReduceMean', 'ReduceSum', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL2', 'ReduceSumSquare', 'Softmax', 'LogSoftmax',
  'MatMul', 'Gemm', 'Conv', 'ConvTranspose', 'BatchNormalization', 'InstanceNormalization', 'LayerNormalization', 'GroupNormalization',
  'AveragePool', 'MaxPool', 'GlobalAveragePool', 'GlobalMaxPool',
  'Gather', 'GatherElements', 'GatherND', 'Reshape', 'Transpose', 'Squeeze', 'Unsqueeze', 'Flatten', 'Identity', 'Concat', 'Slice',
  'Split', 'Expand', 'Tile', 'Pad', 'Where', 'Dropout', 'DepthToSpace', 'SpaceToDepth', 'Cast', 'ConstantOfShape', 'Shape',
  'Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'ArgMax', 'ArgMin', 'Size', 'NonZero',
  // com.microsoft ops with a T (float or float16) type.
  'Gelu', 'FastGelu', 'BiasGelu', 'SkipLayerNormalization', 'MatMulNBits', 'GatherBlockQuantized', 'QuickGelu',
]);

/** Original element type of every value: graph inputs, initializers, value_info, then node by node. */
export function inferElemTypes(graph: GraphProto): Map<string, number> {
  const types = new Map<string, number>();
  for (const v of [...(graph.input ?? []), ...(graph.valueInfo ?? []), ...(graph.output ?? [])]) {
    const t = valueElemType(v);
    if (v.name && t) types.set(v.name, t);
  }
  for (const t of graph.initializer ?? []) if (t.name && t.dataType) types.set(t.name, t.dataType);
  for (const node of graph.node ?? []) {
    const outs = outputTypes(node, types);
    (node.output ?? []).forEach((o, i) => {
      if (o && !types.has(o) && outs[i] !== undefined) types.set(o, outs[i]!);
    });
  }
  return types;
}

function outputTypes(node: NodeProto, types: Map<string, number>): Array<number | undefined> {
  const op = node.opType ?? '';
  const inType = (i: number) => (node.input?.[i] ? types.get(node.input[i]!) : undefined);
  if (BOOL_OUT.has(op)) return [DataType.BOOL];
  if (INT64_OUT.has(op)) return [DataType.INT64];
  switch (op) {
    case 'Cast':
      return [attrInt(node, 'to')];
    case 'CastLike':
      return [inType(1)];
    case 'Constant':
      return [attrTensor(node, 'value')?.dataType ?? (attrInt(node, 'value_int') !== undefined ? DataType.INT64 : DataType.FLOAT)];
    case 'ConstantOfShape':
      return [attrTensor(node, 'value')?.dataType ?? DataType.FLOAT];
    case 'Where':
      return [inType(1)];
    case 'DynamicQuantizeLinear':
      return [DataType.UINT8, DataType.FLOAT, DataType.UINT8];
    case 'QuantizeLinear':
      return [inType(2) ?? DataType.UINT8];
    case 'DequantizeLinear':
      return [inType(1) ?? DataType.FLOAT];
    case 'MatMulInteger':
    case 'ConvInteger':
      return [DataType.INT32];
    case 'MatMulIntegerToFloat':
    case 'DynamicQuantizeMatMul':
      return [DataType.FLOAT];
    case 'GatherBlockQuantized':
      return [inType(2)];
    case 'TopK':
      return [inType(0), DataType.INT64];
    case 'LayerNormalization':
      return [inType(0), DataType.FLOAT, DataType.FLOAT];
    default: {
      const first = (node.input ?? []).map((_, i) => inType(i)).find((t) => t !== undefined);
      return (node.output ?? []).map(() => first);
    }
  }
}
