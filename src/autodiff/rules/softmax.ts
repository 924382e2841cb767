import type { GradientRule } from '../registry.js';
import { alongSoftmaxAxis } from './softmax-axis.js';

/** y = softmax(x): dx = y * (dy - sum(dy * y)) along the softmax axis. */
export const softmaxGrad: GradientRule = (ctx) => {
  if (!ctx.needs(0)) return;
  const { e } = ctx;
  ctx.grad(
    0,
    alongSoftmaxAxis(ctx, (dy, y, axis) => {
      const dot = e.reduce('ReduceSum', e.op('Mul', [dy, y]), [axis], true);
      return e.op('Mul', [y, e.op('Sub', [dy, dot])]);
    }),
  );
};
