import type { GradientRule } from '../registry.js';

/** y = max(x, 0): dx = dy where x > 0, else 0 (the subgradient at 0 is 0, as in PyTorch). */
export const reluGrad: GradientRule = (ctx) => {
  if (!ctx.needs(0)) return;
  const { e } = ctx;
  const x = ctx.input(0);
  const zero = e.scalar(0, x);
  ctx.grad(0, e.op('Where', [e.op('Greater', [x, zero]), ctx.dy()!, zero]));
};
