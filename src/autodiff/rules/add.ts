import type { GradientRule } from '../registry.js';

/** y = a + b: each input gets dy, summed over the dims it was broadcast along. */
export const addGrad: GradientRule = (ctx) => {
  const { e } = ctx;
  const dy = ctx.dy()!;
  const yDims = e.dims(ctx.output(0));
  for (const i of [0, 1]) if (ctx.needs(i)) ctx.grad(i, e.sumToShape(dy, yDims, e.dims(ctx.input(i))));
};
