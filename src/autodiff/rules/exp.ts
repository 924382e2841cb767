import type { GradientRule } from '../registry.js';

/** y = exp(x): dx = dy * y. */
export const expGrad: GradientRule = (ctx) => {
  if (ctx.needs(0)) ctx.grad(0, ctx.e.op('Mul', [ctx.dy()!, ctx.output(0)]));
};
