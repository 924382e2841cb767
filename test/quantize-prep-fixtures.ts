// Fixtures that reproduce what paddle2onnx and tf2onnx write: weights in Constant nodes, old
// opsets (9) with the attribute forms of Slice, Clip, Pad, Squeeze, Split, Dropout, Upsample and
// 2-D-coercing Softmax. Built in code, seeded, small; shared by the graph-preparation tests.
import { DataType, GraphBuilder, makeTensor, type ModelProto } from '../src/onnx/index.js';
import { ort } from '../src/runtime/session.js';

/** Deterministic values in [-scale, scale). */
export function seeded(n: number, seed: number, scale = 0.5): Float32Array {
  let s = seed >>> 0 || 1;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32 - 0.5) * 2 * scale;
  });
}

/** A weight held in a Constant node (as paddle2onnx writes it), not an initializer. */
function constantWeight(b: GraphBuilder, name: string, values: Float32Array, dims: number[]): string {
  return b.node('Constant', [], { outputs: [name], attrs: { value: makeTensor(name, values, dims) }, name: `${name}_Constant` })[0]!;
}

/**
 * A small transformer-ish block at opset 9: MatMul/Add/Relu/Dropout, a decomposed LayerNorm
 * (ReduceMean with axes), Split with split sizes, Slice and Squeeze/Unsqueeze with attributes,
 * Clip with min/max attributes and a Softmax over a 3-D tensor at the old default axis 1.
 * Input x [2, 5, 32]; output probs [2, 1, 4].
 */
export function opset9MatMulModel(): ModelProto {
  const b = new GraphBuilder({ opset: 9 });
  const x = b.input('x', DataType.FLOAT, [2, 5, 32]);
  const w1 = constantWeight(b, 'fc1.weight', seeded(32 * 64, 1, 0.3), [32, 64]);
  const b1 = constantWeight(b, 'fc1.bias', seeded(64, 2, 0.1), [64]);
  const w2 = constantWeight(b, 'fc2.weight', seeded(64 * 32, 3, 0.3), [64, 32]);
  const w3 = constantWeight(b, 'head.weight', seeded(32 * 4, 4, 0.5), [32, 4]);
  const h = b.op('Relu', [b.op('Add', [b.op('MatMul', [x, w1]), b1])]);
  const dropped = b.node('Dropout', [h], { attrs: { ratio: 0.1 }, outputs: 2 })[0]!;
  const r = b.op('Add', [b.op('MatMul', [dropped, w2]), x]);
  const mean = b.op('ReduceMean', [r], { axes: [-1], keepdims: 1 });
  const centered = b.op('Sub', [r, mean]);
  const variance = b.op('ReduceMean', [b.op('Mul', [centered, centered])], { axes: [-1], keepdims: 1 });
  const eps = b.scalar(1e-5, 'eps');
  const normed = b.op('Div', [centered, b.op('Sqrt', [b.op('Add', [variance, eps])])]);
  const [left, right] = b.node('Split', [normed], { attrs: { axis: 2, split: [12, 20] }, outputs: 2 });
  const joined = b.op('Concat', [b.op('Clip', [left!], { min: -1.5, max: 1.5 }), right!], { axis: 2 });
  const first = b.op('Slice', [joined], { starts: [0], ends: [1], axes: [1] });
  const token = b.op('Squeeze', [first], { axes: [1] });
  const logits = b.op('MatMul', [token, w3]);
  const probs = b.op('Softmax', [b.op('Unsqueeze', [logits], { axes: [1] })]);
  b.node('Identity', [probs], { outputs: ['probs'] });
  b.output('probs', DataType.FLOAT, [2, 1, 4]);
  return b.build({ producerName: 'paddle2onnx-like' });
}

/**
 * A small conv net at opset 9 with Constant weights: Conv + BatchNormalization + Relu,
 * HardSigmoid gating, MaxPool, Upsample (nearest, scales input), Pad and Clip with attributes,
 * GlobalAveragePool, Flatten and a Gemm head (transB=1) into a 2-D Softmax. Input x [1, 3, 16, 16].
 */
export function opset9ConvModel(): ModelProto {
  const b = new GraphBuilder({ opset: 9 });
  const x = b.input('x', DataType.FLOAT, [1, 3, 16, 16]);
  const w1 = constantWeight(b, 'conv1.weight', seeded(8 * 3 * 3 * 3, 11, 0.4), [8, 3, 3, 3]);
  const bn = ['scale', 'bias', 'mean', 'var'].map((k, i) =>
    constantWeight(b, `bn1.${k}`, k === 'var' ? Float32Array.from(seeded(8, 20 + i), (v) => 0.5 + Math.abs(v)) : seeded(8, 20 + i, 0.5), [8]),
  );
  const c1 = b.op('Conv', [x, w1], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] });
  const a1 = b.op('Relu', [b.op('BatchNormalization', [c1, ...bn], { epsilon: { float: 1e-5 } })]);
  const gated = b.op('Mul', [a1, b.op('HardSigmoid', [a1], { alpha: { float: 0.2 }, beta: { float: 0.5 } })]);
  const pooled = b.op('MaxPool', [gated], { kernel_shape: [2, 2], strides: [2, 2] });
  const scales = b.constant(Float32Array.of(1, 1, 2, 2), [4], 'up_scales');
  const up = b.op('Upsample', [pooled, scales], { mode: 'nearest' });
  const w2 = constantWeight(b, 'conv2.weight', seeded(16 * 8, 12, 0.4), [16, 8, 1, 1]);
  const c2 = b.op('Clip', [b.op('Conv', [up, w2], { kernel_shape: [1, 1] })], { min: { float: 0 }, max: { float: 6 } });
  const padded = b.op('Pad', [c2], { pads: [0, 0, 1, 1, 0, 0, 1, 1], mode: 'constant', value: { float: 0.25 } });
  const flat = b.op('Flatten', [b.op('GlobalAveragePool', [padded])], { axis: 1 });
  const w3 = constantWeight(b, 'fc.weight', seeded(64 * 16, 13, 0.3), [64, 16]);
  const b3 = constantWeight(b, 'fc.bias', seeded(64, 14, 0.1), [64]);
  const logits = b.op('Gemm', [flat, w3, b3], { transB: 1 });
  b.node('Softmax', [logits], { outputs: ['probs'] });
  b.output('probs', DataType.FLOAT, [1, 64]);
  return b.build({ producerName: 'paddle2onnx-like' });
}

/**
 * x [4, 64] -> fc1 -> Relu -> Mul(mask) -> fc2 -> Relu -> fc3 -> y. The mask zeroes hidden
 * unit 0, and fc2's row 0 (which only ever sees that unit) holds a weight of 1000: it never
 * reaches the output in fp32, but per-tensor int8 sets fc2's scale from it and rounds every
 * other fc2 weight to zero. fc1 and fc3 are ordinary.
 */
export function outlierModel(): ModelProto {
  const b = new GraphBuilder({ opset: 17 });
  const x = b.input('x', DataType.FLOAT, [4, 64]);
  const w2 = seeded(64 * 64, 22, 0.2);
  w2[5] = 1000;
  const mask = Float32Array.from({ length: 64 }, (_, i) => (i === 0 ? 0 : 1));
  const fc1 = b.op('MatMul', [x, b.initializer('fc1.weight', seeded(64 * 64, 21, 0.2), [64, 64])], undefined, { name: 'fc1' });
  const h1 = b.op('Mul', [b.op('Relu', [fc1]), b.constant(mask, [64], 'mask')]);
  const fc2 = b.op('MatMul', [h1, b.initializer('fc2.weight', w2, [64, 64])], undefined, { name: 'fc2' });
  b.node('MatMul', [b.op('Relu', [fc2]), b.initializer('fc3.weight', seeded(64 * 64, 23, 0.2), [64, 64])], { outputs: ['y'], name: 'fc3' });
  b.output('y', DataType.FLOAT, [4, 64]);
  return b.build();
}

export function floatFeed(name: string, dims: number[], seed: number): Record<string, ort.Tensor> {
  const n = dims.reduce((a, c) => a * c, 1);
  return { [name]: new ort.Tensor('float32', seeded(n, seed, 1), dims) };
}
