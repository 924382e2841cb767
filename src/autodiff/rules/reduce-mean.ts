import type { GradientRule } from '../registry.js';
import { expandReducedGradient } from './reduce-axes.js';

/**
 * y = mean(x, axes): dx = dy broadcast back / count. The count is a constant when the reduced
 * dims are fixed (LayerNorm over hidden), else Size(x) / Size(y) at run time (mean over tokens).
 */
export const reduceMeanGrad: GradientRule = (ctx) => {
  if (!ctx.needs(0)) return;
  const { e } = ctx;
  const x = ctx.input(0);
  const { g, axes, identity } = expandReducedGradient(ctx);
  if (identity) return ctx.grad(0, g);
  const dims = e.dims(x);
  const reduced = axes?.map((a) => dims[a]!);
  if (reduced && reduced.every((d) => d !== '?')) {
    const count = (reduced as number[]).reduce((p, d) => p * d, 1);
    return ctx.grad(0, e.op('Mul', [g, e.scalar(1 / count, x)]));
  }
  const count = e.op('Cast', [e.op('Div', [e.op('Size', [x]), e.op('Size', [ctx.output(0)])])], { to: e.elemType(x) });
  ctx.grad(0, e.op('Div', [g, count]));
};
