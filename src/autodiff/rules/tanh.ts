import type { GradientRule } from '../registry.js';

/** y = tanh(x): dx = dy * (1 - y^2). */
export const tanhGrad: GradientRule = (ctx) => {
  if (!ctx.needs(0)) return;
  const { e } = ctx;
  const y = ctx.output(0);
  ctx.grad(0, e.op('Mul', [ctx.dy()!, e.op('Sub', [e.scalar(1, y), e.op('Mul', [y, y])])]));
};
