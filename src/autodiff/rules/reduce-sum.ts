import type { GradientRule } from '../registry.js';
import { expandReducedGradient } from './reduce-axes.js';

/** y = sum(x, axes): dx = dy broadcast back over the reduced axes. */
export const reduceSumGrad: GradientRule = (ctx) => {
  if (ctx.needs(0)) ctx.grad(0, expandReducedGradient(ctx).g);
};
