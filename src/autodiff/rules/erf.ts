import type { GradientRule } from '../registry.js';

/** y = erf(x): dx = dy * 2/sqrt(pi) * exp(-x^2). */
export const erfGrad: GradientRule = (ctx) => {
  if (!ctx.needs(0)) return;
  const { e } = ctx;
  const x = ctx.input(0);
  const gauss = e.op('Exp', [e.op('Neg', [e.op('Mul', [x, x])])]);
  ctx.grad(0, e.op('Mul', [ctx.dy()!, e.op('Mul', [gauss, e.scalar(2 / Math.sqrt(Math.PI), x)])]));
};
