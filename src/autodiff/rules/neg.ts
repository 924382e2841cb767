import type { GradientRule } from '../registry.js';

/** y = -x: dx = -dy. */
export const negGrad: GradientRule = (ctx) => {
  if (ctx.needs(0)) ctx.grad(0, ctx.e.op('Neg', [ctx.dy()!]));
};
