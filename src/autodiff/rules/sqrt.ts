import type { GradientRule } from '../registry.js';

/** y = sqrt(x): dx = dy * 0.5 / y (reuses the forward output). */
export const sqrtGrad: GradientRule = (ctx) => {
  if (!ctx.needs(0)) return;
  const { e } = ctx;
  const y = ctx.output(0);
  ctx.grad(0, e.op('Div', [e.op('Mul', [ctx.dy()!, e.scalar(0.5, y)]), y]));
};
