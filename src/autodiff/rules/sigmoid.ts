import type { GradientRule } from '../registry.js';

/** y = sigmoid(x): dx = dy * y * (1 - y). */
export const sigmoidGrad: GradientRule = (ctx) => {
  if (!ctx.needs(0)) return;
  const { e } = ctx;
  const y = ctx.output(0);
  ctx.grad(0, e.op('Mul', [ctx.dy()!, e.op('Mul', [y, e.op('Sub', [e.scalar(1, y), y])])]));
};
