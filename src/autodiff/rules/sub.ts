import type { GradientRule } from '../registry.js';

/** y = a - b: da = dy, db = -dy (each summed back to its input's shape). */
export const subGrad: GradientRule = (ctx) => {
  const { e } = ctx;
  const dy = ctx.dy()!;
  const yDims = e.dims(ctx.output(0));
  if (ctx.needs(0)) ctx.grad(0, e.sumToShape(dy, yDims, e.dims(ctx.input(0))));
  if (ctx.needs(1)) ctx.grad(1, e.sumToShape(e.op('Neg', [dy]), yDims, e.dims(ctx.input(1))));
};
