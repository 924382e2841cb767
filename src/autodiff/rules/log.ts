import type { GradientRule } from '../registry.js';

/** y = ln(x): dx = dy / x. */
export const logGrad: GradientRule = (ctx) => {
  if (ctx.needs(0)) ctx.grad(0, ctx.e.op('Div', [ctx.dy()!, ctx.input(0)]));
};
