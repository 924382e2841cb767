/**
 * Default-domain ops whose every schema change from opset 7 up to 18 only added types, made an
 * input optional, allowed negative axes or added an attribute whose default keeps the old
 * meaning: a node of these carries over to a newer opset as it is. Checked against the ONNX
 * operator changelog; an op missing here and from the rules blocks an upgrade by name.
 */
export const unchangedOps: ReadonlySet<string> = new Set([
  // element-wise math and activations
  'Abs', 'Acos', 'Acosh', 'Add', 'And', 'Asin', 'Asinh', 'Atan', 'Atanh', 'BitShift', 'Ceil', 'Celu', 'Cos', 'Cosh', 'Div', 'Elu', 'Equal',
  'Erf', 'Exp', 'Floor', 'Gelu', 'Greater', 'GreaterOrEqual', 'HardSigmoid', 'HardSwish', 'Identity', 'IsInf', 'IsNaN', 'LeakyRelu', 'Less',
  'LessOrEqual', 'Log', 'Max', 'Mean', 'Min', 'Mish', 'Mod', 'Mul', 'Neg', 'Not', 'Or', 'Pow', 'PRelu', 'Reciprocal', 'Relu', 'Round', 'Selu',
  'Shrink', 'Sigmoid', 'Sign', 'Sin', 'Sinh', 'Softplus', 'Softsign', 'Sqrt', 'Sub', 'Sum', 'Tan', 'Tanh', 'ThresholdedRelu', 'Where', 'Xor',
  // linear algebra, convolution, pooling, normalization
  'Conv', 'ConvInteger', 'ConvTranspose', 'Einsum', 'Gemm', 'MatMul', 'MatMulInteger', 'QLinearConv', 'QLinearMatMul', 'AveragePool',
  'GlobalAveragePool', 'GlobalLpPool', 'GlobalMaxPool', 'LpPool', 'MaxPool', 'MaxUnpool', 'InstanceNormalization', 'LayerNormalization', 'LpNormalization',
  'LRN', 'MeanVarianceNormalization',
  // shape and data movement
  'ArgMax', 'ArgMin', 'Cast', 'CastLike', 'Compress', 'Concat', 'Constant', 'ConstantOfShape', 'CumSum', 'DepthToSpace', 'Expand', 'EyeLike', 'Flatten',
  'Gather', 'GatherElements', 'GatherND', 'NonZero', 'OneHot', 'Range', 'Reshape', 'ReverseSequence', 'ScatterElements', 'ScatterND', 'Shape',
  'Size', 'SpaceToDepth', 'Tile', 'Transpose', 'Trilu', 'Unique',
  // quantization, recurrent, control flow (subgraphs are upgraded too), detection
  'DequantizeLinear', 'DynamicQuantizeLinear', 'QuantizeLinear', 'GRU', 'LSTM', 'RNN', 'If', 'Loop', 'NonMaxSuppression',
  'RandomNormal', 'RandomNormalLike', 'RandomUniform', 'RandomUniformLike', 'Multinomial', 'Det',
]);
