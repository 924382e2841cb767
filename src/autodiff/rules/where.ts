import type { GradientRule } from '../registry.js';

/** y = where(c, x1, x2): dx1 = where(c, dy, 0), dx2 = where(c, 0, dy); the condition gets none. */
export const whereGrad: GradientRule = (ctx) => {
  const { e } = ctx;
  const dy = ctx.dy()!;
  const y = ctx.output(0);
  const yDims = e.dims(y);
  const c = ctx.input(0);
  const zero = e.scalar(0, y);
  if (ctx.needs(1)) ctx.grad(1, e.sumToShape(e.op('Where', [c, dy, zero]), yDims, e.dims(ctx.input(1))));
  if (ctx.needs(2)) ctx.grad(2, e.sumToShape(e.op('Where', [c, zero, dy]), yDims, e.dims(ctx.input(2))));
};
