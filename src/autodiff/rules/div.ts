import type { GradientRule } from '../registry.js';

/** y = a / b: da = dy / b, db = -dy * y / b (reuses the forward quotient instead of a / b^2). */
export const divGrad: GradientRule = (ctx) => {
  const { e } = ctx;
  const dy = ctx.dy()!;
  const y = ctx.output(0);
  const yDims = e.dims(y);
  const [a, b] = [ctx.input(0), ctx.input(1)];
  if (ctx.needs(0)) ctx.grad(0, e.sumToShape(e.op('Div', [dy, b]), yDims, e.dims(a)));
  if (ctx.needs(1)) ctx.grad(1, e.sumToShape(e.op('Neg', [e.op('Div', [e.op('Mul', [dy, y]), b])]), yDims, e.dims(b)));
};
