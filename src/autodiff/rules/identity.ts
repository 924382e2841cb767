import type { GradientRule } from '../registry.js';

/** y = x: dx = dy. */
export const identityGrad: GradientRule = (ctx) => {
  if (ctx.needs(0)) ctx.grad(0, ctx.dy()!);
};
