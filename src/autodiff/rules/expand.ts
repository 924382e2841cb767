import type { GradientRule } from '../registry.js';

/** y = expand(x, shape): dx = dy summed over the dims x was broadcast along. */
export const expandGrad: GradientRule = (ctx) => {
  if (!ctx.needs(0)) return;
  const { e } = ctx;
  ctx.grad(0, e.sumToShape(ctx.dy()!, e.dims(ctx.output(0)), e.dims(ctx.input(0))));
};
