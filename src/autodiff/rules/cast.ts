import type { GradientRule } from '../registry.js';

/**
 * y = cast(x): between float types dx = cast(dy) back to x's type. A cast from an integer or
 * bool never reaches here: such values carry no gradient and are pruned from the path.
 */
export const castGrad: GradientRule = (ctx) => {
  if (!ctx.needs(0)) return;
  const { e } = ctx;
  const x = ctx.input(0);
  const dy = ctx.dy()!;
  ctx.grad(0, e.elemType(x) === e.elemType(ctx.output(0)) ? dy : e.op('Cast', [dy], { to: e.elemType(x) }));
};
