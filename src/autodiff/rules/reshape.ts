import type { GradientRule } from '../registry.js';

/**
 * Reshape, Flatten, Squeeze and Unsqueeze only change the shape: dx = reshape(dy, shape(x)),
 * with the shape read at run time so dynamic batch and sequence sizes keep working.
 */
export const reshapeGrad: GradientRule = (ctx) => {
  if (!ctx.needs(0)) return;
  const x = ctx.input(0);
  ctx.grad(0, ctx.e.op('Reshape', [ctx.dy()!, ctx.e.shapeOf(x)]));
};
