import type { GradientRule } from '../registry.js';

/** y = 1 / x: dx = -dy * y^2. */
export const reciprocalGrad: GradientRule = (ctx) => {
  if (!ctx.needs(0)) return;
  const { e } = ctx;
  const y = ctx.output(0);
  ctx.grad(0, e.op('Neg', [e.op('Mul', [ctx.dy()!, e.op('Mul', [y, y])])]));
};
