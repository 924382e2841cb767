import { attrInt } from '../../onnx/index.js';
import type { GradientRule } from '../registry.js';

/**
 * y = concat(x0, x1, ..., axis): dy is split back at the inputs' sizes along the axis, fixed
 * sizes as a constant, dynamic ones read from the inputs' shapes at run time.
 */
export const concatGrad: GradientRule = (ctx) => {
  const { e, node } = ctx;
  const inputs = node.input ?? [];
  const r = e.rank(ctx.output(0));
  let axis = attrInt(node, 'axis', 0);
  if (axis < 0) axis += r;
  const sizes = inputs.map((x) => e.dims(x)[axis]!);
  const split = sizes.every((d) => d !== '?')
    ? e.ints(sizes as number[])
    : e.op('Concat', inputs.map((x) => e.op('Gather', [e.shapeOf(x), e.ints([axis])])), { axis: 0 });
  const parts = e.ops('Split', [ctx.dy()!, split], inputs.length, { axis });
  inputs.forEach((_, i) => ctx.needs(i) && ctx.grad(i, parts[i]!));
};
