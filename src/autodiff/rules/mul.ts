import type { GradientRule } from '../registry.js';

/** y = a * b: da = dy * b, db = dy * a. */
export const mulGrad: GradientRule = (ctx) => {
  const { e } = ctx;
  const dy = ctx.dy()!;
  const yDims = e.dims(ctx.output(0));
  const [a, b] = [ctx.input(0), ctx.input(1)];
  if (ctx.needs(0)) ctx.grad(0, e.sumToShape(e.op('Mul', [dy, b]), yDims, e.dims(a)));
  if (ctx.needs(1)) ctx.grad(1, e.sumToShape(e.op('Mul', [dy, a]), yDims, e.dims(b)));
};
