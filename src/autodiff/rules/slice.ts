import { DataType } from '../../onnx/index.js';
import type { GradientRule } from '../registry.js';

/**
 * y = slice(x, starts, ends, axes, steps). The rule slices a tensor of flat positions
 * (range(size(x)) reshaped like x) with the forward node's own starts/ends/axes/steps, and
 * scatters dy into zeros at those positions, so every step (negative too) and every run-time
 * bound is handled by onnxruntime's Slice itself.
 */
export const sliceGrad: GradientRule = (ctx) => {
  if (!ctx.needs(0)) return;
  const { e, node } = ctx;
  const x = ctx.input(0);
  const size = e.op('Size', [x]);
  const positions = e.op('Reshape', [
    e.op('Range', [e.scalar(0, DataType.INT64), size, e.scalar(1, DataType.INT64)]),
    e.shapeOf(x),
  ]);
  const picked = e.op('Slice', [positions, ...(node.input ?? []).slice(1)]);
  const flat = e.op('ScatterElements', [
    e.zerosOfShape(e.op('Reshape', [size, e.ints([1])]), e.elemType(x)),
    e.op('Reshape', [picked, e.ints([-1])]),
    e.op('Reshape', [ctx.dy()!, e.ints([-1])]),
  ], { axis: 0 });
  ctx.grad(0, e.op('Reshape', [flat, e.shapeOf(x)]));
};
