import type { GradientRule } from '../registry.js';
import { alongSoftmaxAxis } from './softmax-axis.js';

/** y = log_softmax(x): dx = dy - exp(y) * sum(dy) along the axis. */
export const logSoftmaxGrad: GradientRule = (ctx) => {
  if (!ctx.needs(0)) return;
  const { e } = ctx;
  ctx.grad(
    0,
    alongSoftmaxAxis(ctx, (dy, y, axis) => e.op('Sub', [dy, e.op('Mul', [e.op('Exp', [y]), e.reduce('ReduceSum', dy, [axis], true)])])),
  );
};
